import { TimeoutError, toFerryError } from '../engine/errors.js';
import type { RedisClient } from '../engine/store/redis/index.js';

/**
 * The Slack surface's guards (the per-user rate limit, the replay check) are shared across bot
 * processes through Redis, yet they must answer while Redis is away: ferry's client waits out an
 * outage (maxRetriesPerRequest: null), so a guard that waited too would leave every request
 * unanswered, and one that let everything through would drop the storm protection exactly when
 * the bot is weakest. So a guard asks Redis unless its connection is known to be lost, gives it
 * `timeoutMs`, and otherwise decides in this process (`local`). Not queuing while disconnected
 * also keeps stale guard writes from running when Redis comes back.
 */

/** Client states (ioredis Redis and Cluster) in which the connection is known to be gone. */
const LOST = ['reconnecting', 'disconnecting', 'close', 'end'];

/** How long a guard waits for Redis before deciding in this process. */
export const GUARD_TIMEOUT_MS = 2000;

/**
 * How many entries a guard keeps in this process before it forgets the stale ones. Below it
 * nothing is swept (a request costs no walk over the map); past it each new entry sweeps, so
 * memory stays bounded by what is live, plus this many.
 */
export const LOCAL_SWEEP_AT = 1000;

/**
 * The one rule of every guard's local memory: once `entries` holds LOCAL_SWEEP_AT or more,
 * drop those `stale` says are done with. Stale entries below the bound stay: a reader that
 * finds one must judge it by its own age (see ReplayGuard.claim).
 */
export function forgetStale<K, V>(entries: Map<K, V>, stale: (value: V) => boolean): void {
  if (entries.size < LOCAL_SWEEP_AT) return;
  for (const [key, value] of entries) if (stale(value)) entries.delete(key);
}

export class RedisOrLocal {
  private degraded = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly what: string,
    private readonly log: (line: string) => void,
    private readonly timeoutMs = GUARD_TIMEOUT_MS,
  ) {}

  /** `shared()` on Redis when it answers in time, else `local()`; logs once per outage. */
  async run<T>(shared: () => Promise<T>, local: () => T): Promise<T> {
    // Known to be lost: do not queue. Still connecting (a new client): wait for it, within the timeout.
    if (LOST.includes(this.redis.status)) return this.fallBack(local, `Redis is ${this.redis.status}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await Promise.race([
        shared(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new TimeoutError(`no answer from Redis within ${this.timeoutMs} ms`)),
            this.timeoutMs,
          );
        }),
      ]);
      if (this.degraded) this.log(`${this.what}: Redis answers again; shared across bot processes again`);
      this.degraded = false;
      return answer;
    } catch (err) {
      return this.fallBack(local, toFerryError(err).message);
    } finally {
      clearTimeout(timer);
    }
  }

  private fallBack<T>(local: () => T, why: string): T {
    if (!this.degraded)
      this.log(`${this.what}: ${why}; decided in this process until Redis answers (not shared meanwhile)`);
    this.degraded = true;
    return local();
  }
}
