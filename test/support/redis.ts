/** The tests start redis-server with the demo's starter: one implementation, shared. */
export { freePort, type RedisServer, startRedis } from '../../src/demo/redis.js';
