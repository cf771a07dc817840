import type { Cluster, Redis } from 'ioredis';
import { LuaScript } from '../engine/store/redis/script.js';
import type { SlackConfig } from './config.js';

/**
 * A per-user token bucket on commands and button clicks, shared by every bot process through
 * Redis: one user's storm (200 `/ferry hosts` at once) is answered with "slow down" instead of
 * slowing everyone's replies. The bucket holds `burst` requests and refills at `perMinute`; the
 * take is one script, so two processes never hand out the same token, and it reads Redis's own
 * clock, so their clocks need not agree.
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

export class RateLimiter {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly config: RateLimitConfig,
    private readonly prefix = 'ferry:slack:ratelimit:',
  ) {}

  /** Takes one of `user`'s tokens, if there is one. */
  async take(user: string): Promise<Verdict> {
    const reply = (await TAKE.run(
      this.redis,
      [this.prefix + user],
      [this.config.burst, this.config.perMinute / 60_000],
    )) as [number, number];
    return reply[0] === 1 ? { allowed: true } : { allowed: false, retryAfterMs: reply[1] };
  }
}

/** What a refused user is told (privately). */
export function slowDown(config: RateLimitConfig, retryAfterMs: number): string {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return `:hourglass: Slow down: ferry takes at most ${config.perMinute} requests a minute from one person (${config.burst} at once). Try again in ${seconds} s.`;
}
