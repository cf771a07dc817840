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
