import type { Cluster, Redis } from 'ioredis';

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

/** KeyValueStore on Redis, every key under one prefix. */
export class RedisKeyValueStore implements KeyValueStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'ferry:slack:',
  ) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(this.prefix + key)) ?? undefined;
  }

  async set(key: string, value: string): Promise<void> {
    await this.redis.set(this.prefix + key, value);
  }

  async claim(key: string, value: string, ttlMs?: number): Promise<boolean> {
    const set =
      ttlMs === undefined
        ? this.redis.set(this.prefix + key, value, 'NX')
        : this.redis.set(this.prefix + key, value, 'PX', ttlMs, 'NX');
    return (await set) === 'OK';
  }

  async add(set: string, member: string): Promise<void> {
    await this.redis.sadd(this.prefix + set, member);
  }

  async remove(set: string, member: string): Promise<void> {
    await this.redis.srem(this.prefix + set, member);
  }

  async members(set: string): Promise<string[]> {
    return (await this.redis.smembers(this.prefix + set)).sort();
  }
}
