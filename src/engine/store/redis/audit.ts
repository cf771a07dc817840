import type { AuditEntry, AuditLog } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { decode } from './schemas.js';

/**
 * Who did what, when, from where: one append-only stream for the whole deployment. Entry ids
 * are Redis's own time, so the order is the order Redis received them from every replica.
 */
export class RedisAudit implements AuditLog {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async append(entry: AuditEntry): Promise<void> {
    await this.redis.xadd(
      this.keys.audit(),
      '*',
      'who',
      entry.who,
      'action',
      entry.action,
      'entry',
      JSON.stringify(entry),
    );
  }

  async entries(): Promise<AuditEntry[]> {
    const key = this.keys.audit();
    const entries = await this.redis.xrange(key, '-', '+');
    return entries.map(([id, fields]) => {
      const at = fields.indexOf('entry');
      return decode('audit', at >= 0 ? (fields[at + 1] ?? '') : '', `${key} ${id}`);
    });
  }
}
