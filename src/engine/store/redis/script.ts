import { createHash } from 'node:crypto';
import type { RedisClient } from './config.js';

/**
 * A Lua script run by its SHA, sent in full only when Redis does not know it yet (after a restart
 * or a failover the script cache is empty). Everything that must be atomic across processes is
 * one of these, never a read-modify-write in TypeScript.
 */
export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

/** Deletes a lock (KEYS[1]) only if ARGV[1] still holds it: a late holder never frees a successor's. */
export const RELEASE_IF_HELD = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);
