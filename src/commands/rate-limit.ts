import type { RedisClient } from '../engine/store/redis/index.js';
import { LuaScript } from '../engine/store/redis/script.js';
import type { SlackConfig } from './config.js';
import { forgetStale, RedisOrLocal } from './redis-or-local.js';

/**
 * A per-user token bucket on commands and button clicks, shared by every bot process through
 * Redis: one user's storm (200 `/ferry hosts` at once) is answered with "slow down" instead of
 * slowing everyone's replies. The bucket holds `burst` requests and refills at `perMinute`; the
 * take is one script, so two processes never hand out the same token, and it reads Redis's own
 * clock, so their clocks need not agree. While Redis does not answer, each process keeps the
 * same buckets itself (redis-or-local.ts): a storm is still slowed down, by each process alone.
 *
 * KEYS[1] is the user's bucket; ARGV[1] the burst, ARGV[2] tokens per millisecond. Returns
 * {1, 0} when allowed, {0, ms until the next token} when not.
 */
const TAKE = new LuaScript(`
local burst = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * perMs)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / perMs)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / perMs) + 1000)
return {allowed, wait}
`);

export type RateLimitConfig = SlackConfig['rateLimit'];

export type Verdict = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface RateLimiterOptions {
  /** Key prefix of the buckets in Redis. */
  prefix?: string;
  log?: (line: string) => void;
  /** How long to wait for Redis before counting in this process. */
  timeoutMs?: number;
}

export class RateLimiter {
  private readonly prefix: string;
  private readonly guard: RedisOrLocal;
  private readonly local: LocalBuckets;

  constructor(
    private readonly redis: RedisClient,
    private readonly config: RateLimitConfig,
    options: RateLimiterOptions = {},
  ) {
    this.prefix = options.prefix ?? 'ferry:slack:ratelimit:';
    this.guard = new RedisOrLocal(redis, 'rate limit', options.log ?? (() => {}), options.timeoutMs);
    this.local = new LocalBuckets(config);
  }

  /** Takes one of `user`'s tokens, if there is one: in Redis, or in this process while Redis is away. */
  take(user: string): Promise<Verdict> {
    return this.guard.run(
      async () => {
        const reply = (await TAKE.run(
          this.redis,
          [this.prefix + user],
          [this.config.burst, this.config.perMinute / 60_000],
        )) as [number, number];
        return reply[0] === 1 ? { allowed: true } : { allowed: false, retryAfterMs: reply[1] };
      },
      () => this.local.take(user),
    );
  }
}

/** The script's bucket kept in this process: the same arithmetic on the local clock. */
class LocalBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(private readonly config: RateLimitConfig) {
    this.perMs = config.perMinute / 60_000;
  }

  take(user: string): Verdict {
    const now = Date.now();
    this.forgetFull(now);
    const state = this.buckets.get(user) ?? { tokens: this.config.burst, at: now };
    const tokens = Math.min(this.config.burst, state.tokens + Math.max(0, now - state.at) * this.perMs);
    const allowed = tokens >= 1;
    this.buckets.set(user, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed ? { allowed } : { allowed, retryAfterMs: Math.ceil((1 - tokens) / this.perMs) };
  }

  /** A bucket refilled to the brim is the same as none (what PEXPIRE does in Redis): memory stays bounded. */
  private forgetFull(now: number): void {
    const refillMs = this.config.burst / this.perMs;
    forgetStale(this.buckets, (state) => now - state.at >= refillMs);
  }
}

/** What a refused user is told (privately). */
export function slowDown(config: RateLimitConfig, retryAfterMs: number): string {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return `:hourglass: Slow down: ferry takes at most ${config.perMinute} requests a minute from one person (${config.burst} at once). Try again in ${seconds} s.`;
}
