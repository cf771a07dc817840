import type { AuditEntry, AuditLog } from '../../ports.js';
import { type RedisClient, type Retention, retentionSchema } from './config.js';
import { Keys } from './keys.js';
import { decode, encode } from './schemas.js';
import { LuaScript } from './script.js';

/**
 * Appends an entry and drops those older than the retention, by Redis's clock (the ids' own):
 * KEYS[1] the stream; ARGV the retention ms, who, the action, the entry JSON.
 */
const APPEND = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('XADD', KEYS[1], 'MINID', tostring(now - tonumber(ARGV[1])), '*',
  'who', ARGV[2], 'action', ARGV[3], 'entry', ARGV[4])
`);

/**
 * Who did what, when, from where: one append-only stream for the whole deployment. Entry ids
 * are Redis's own time, so the order is the order Redis received them from every replica. Entries
 * older than `retention.auditS` are trimmed as new ones arrive and never read.
 */
export class RedisAudit implements AuditLog {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly retention: Pick<Retention, 'auditS'> = retentionSchema.parse({}),
  ) {
    this.keys = new Keys(prefix);
  }

  async append(entry: AuditEntry): Promise<void> {
    await APPEND.run(
      this.redis,
      [this.keys.audit()],
      [this.keepMs(), entry.who, entry.action, encode('audit', entry)],
    );
  }

  async entries(): Promise<AuditEntry[]> {
    const key = this.keys.audit();
    // Entries past the retention that no append has trimmed yet (a quiet deployment) are not read.
    const since = Math.max(0, Date.now() - this.keepMs());
    const entries = await this.redis.xrange(key, String(since), '+');
    return entries.map(([id, fields]) => {
      const at = fields.indexOf('entry');
      return decode('audit', at >= 0 ? (fields[at + 1] ?? '') : '', `${key} ${id}`);
    });
  }

  private keepMs(): number {
    return Math.round(this.retention.auditS * 1000);
  }
}
