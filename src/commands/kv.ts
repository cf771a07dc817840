import { confirmReplicated, type RedisClient } from '../engine/store/redis/index.js';

/**
 * The little durable memory the Slack surface needs beside the engine: which message shows which
 * evacuation (so progress continues in the same message after a restart), how far each event
 * stream was read, and single-use button nonces.
 */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  /**
   * Sets only when absent; true when this call set it (single-use tokens: the first click wins).
   * With `ttlMs` the mark expires (replay marks need not be kept for ever).
   */
  claim(key: string, value: string, ttlMs?: number): Promise<boolean>;
  add(set: string, member: string): Promise<void>;
  remove(set: string, member: string): Promise<void>;
  members(set: string): Promise<string[]>;
}

/**
 * KeyValueStore on Redis, every key under one prefix. Each write waits for the replicas the
 * client requires (replication.ts), like the engine's: a failover that lost the place of a
 * progress message would post a second one, and a lost nonce would let a button act twice.
 */
export class RedisKeyValueStore implements KeyValueStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'ferry:slack:',
  ) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.prefix + key)) ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.set(this.prefix + key, value);
    await this.replicated(key);
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const set =
      ttlMs === undefined
        ? this.redis.set(this.prefix + key, value, 'NX')
        : this.redis.set(this.prefix + key, value, 'PX', ttlMs, 'NX');
    if ((await set) !== 'OK') return false;
    await this.replicated(key);
    return true;
  }

  async add(set: string, member: string): Promise<void> {
    await this.redis.sadd(this.prefix + set, member);
    await this.replicated(set);
  }

  async remove(set: string, member: string): Promise<void> {
    await this.redis.srem(this.prefix + set, member);
    await this.replicated(set);
  }

  async members(set: string): Promise<string[]> {
    return (await this.redis.smembers(this.prefix + set)).sort();
  }

  private replicated(key: string): Promise<void> {
    return confirmReplicated(this.redis, this.prefix + key, `the Slack state ${key}`);
  }
}
