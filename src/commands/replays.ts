import type { RedisClient } from '../engine/store/redis/index.js';
import type { KeyValueStore } from './kv.js';
import { forgetStale, RedisOrLocal } from './redis-or-local.js';

/**
 * A request Slack delivers twice acts once, whichever bot process gets it: Slack's retries, a
 * replayed HTTP request (same trigger_id) and a redelivered Socket Mode envelope (same
 * envelope_id, whatever its payload says). Each mark is claimed in Redis (SET NX with a TTL),
 * every time. While Redis does not answer, this process remembers the marks it saw itself
 * (redis-or-local.ts), and keeps remembering them afterwards, so a replay of a request claimed
 * here during the outage is still refused once Redis is back.
 */
export interface DeliveryMarks {
  triggerId?: string;
  envelopeId?: string;
}

export class ReplayGuard {
  private readonly guard: RedisOrLocal;
  /** Mark -> when this process may forget it. */
  private readonly seenHere = new Map<string, number>();

  constructor(
    private readonly kv: KeyValueStore,
    redis: RedisClient,
    private readonly ttlMs: number,
    private readonly log: (line: string) => void,
  ) {
    this.guard = new RedisOrLocal(redis, 'replay check', log);
  }

  /** True the first time a request is seen; a request without marks always is. */
  async first(request: DeliveryMarks): Promise<boolean> {
    const marks = (
      [
        ['envelope', 'envelope_id', request.envelopeId],
        ['trigger', 'trigger_id', request.triggerId],
      ] as const
    ).filter(([, , id]) => id !== undefined);
    const fresh = await Promise.all(marks.map(([kind, , id]) => this.claim(`replay:${kind}:${id}`)));
    const seen = marks.filter((_, i) => !fresh[i]).map(([, name, id]) => `${name} ${id}`);
    if (seen.length === 0) return true;
    this.log(`ignored a replayed request (${seen.join(', ')})`);
    return false;
  }

  private async claim(key: string): Promise<boolean> {
    // A mark past its time is forgotten, whether or not a sweep has dropped it yet.
    if ((this.seenHere.get(key) ?? 0) > Date.now()) return false;
    return this.guard.run(
      () => this.kv.claim(key, '1', this.ttlMs),
      () => this.claimHere(key),
    );
  }

  private claimHere(key: string): boolean {
    const now = Date.now();
    forgetStale(this.seenHere, (until) => until <= now);
    this.seenHere.set(key, now + this.ttlMs);
    return true;
  }
}
