import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/commands/rate-limit.js';
import { textOf } from '../e2e/story.js';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { spyService } from '../support/spy-service.js';

/**
 * A per-user token bucket shared through Redis: two bot processes (two limiters on one Redis)
 * hand out one user's tokens once, other users are untouched, and a refused request is told
 * when to try again.
 */
describe('the per-user rate limit', () => {
  let redis: RedisServer;
  const clients: Redis[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });
  const client = () => {
    const c = new Redis(redis.url);
    clients.push(c);
    return c;
  };

  it('allows a burst, then refuses with the wait for the next token, across processes', async () => {
    const config = { burst: 3, perMinute: 60 };
    const prefix = `t1:${Date.now()}:`;
    const one = new RateLimiter(client(), config, { prefix });
    const two = new RateLimiter(client(), config, { prefix });
    // 20 requests at once from two processes: exactly the burst is let through.
    const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).take('U1')));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(3);
    const refused = verdicts.find((v) => !v.allowed) as { retryAfterMs: number };
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(1000);
    // Someone else has their own bucket.
    expect((await one.take('U2')).allowed).toBe(true);
  });

  it('refills at the configured rate', async () => {
    const limiter = new RateLimiter(client(), { burst: 1, perMinute: 600 }, { prefix: `t2:${Date.now()}:` });
    expect((await limiter.take('U1')).allowed).toBe(true);
    const refused = await limiter.take('U1');
    expect(refused.allowed).toBe(false);
    // One token every 100 ms: polled, it comes back, and not at once.
    const started = Date.now();
    for (;;) {
      if ((await limiter.take('U1')).allowed) break;
      expect(Date.now() - started, 'a token within 2 s').toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });
});

describe('the rate limit in the Slack app', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('answers a storm of commands from one user with "slow down", and others normally', async () => {
    const spy = spyService();
    harness = await startHarness({
      mode: 'socket',
      service: spy.service,
      slack: { rateLimit: { burst: 5, perMinute: 5 } },
    });
    const { slack } = harness;
    const storm = await Promise.all(
      Array.from({ length: 40 }, () => slack.slash(USERS.mallory, 'hosts', CHANNELS.ops)),
    );
    const answers = await Promise.all(
      storm.map((d) => slack.waitFor('an answer', () => slack.answers(d.responseUrl!)[0])),
    );
    const slowed = answers.filter((a) => textOf(a).includes('Slow down'));
    expect(slowed).toHaveLength(35);
    expect(textOf(slowed[0]!)).toMatch(
      /at most 5 requests a minute from one person \(5 at once\)\. Try again in \d+ s/,
    );
    expect(slowed.every((a) => a.visibleTo === USERS.mallory)).toBe(true);
    // Only the five let through reached the engine; another user is answered normally.
    const other = await slack.slash(USERS.alice, 'hosts', CHANNELS.ops);
    const reply = await slack.waitFor('alice’s answer', () => slack.answers(other.responseUrl!)[0]);
    expect(textOf(reply)).not.toContain('Slow down');
  });

  it('keeps limiting while Redis is down (each process counts alone), and shares again once it is back', async () => {
    const spy = spyService();
    const log: string[] = [];
    harness = await startHarness({
      mode: 'socket',
      service: spy.service,
      slack: { rateLimit: { burst: 5, perMinute: 5 } },
      log: (line) => log.push(line),
    });
    const { slack } = harness;
    const ask = async (user: string) => {
      const d = await slack.slash(user, 'hosts', CHANNELS.ops);
      return textOf(await slack.waitFor('an answer', () => slack.answers(d.responseUrl!)[0], 20_000));
    };
    expect(await ask(USERS.mallory)).not.toContain('Slow down');
    const redis = harness.redis!;
    await redis.stop();

    // Redis is gone: neither waved through nor left unanswered. This process holds the buckets.
    const storm = await Promise.all(Array.from({ length: 40 }, () => ask(USERS.mallory)));
    expect(storm.filter((t) => t.includes('Slow down'))).toHaveLength(35);
    expect(await ask(USERS.alice)).not.toContain('Slow down');
    expect(log.some((l) => /^rate limit: .*decided in this process until Redis answers/.test(l))).toBe(true);

    // Back on the same port: the buckets are shared through Redis again.
    const back = await startRedis({ port: redis.port });
    try {
      // The limiter finds out when it is asked: bob asks until it says Redis answers again.
      const deadline = Date.now() + 20_000;
      while (!log.some((l) => l.startsWith('rate limit: Redis answers again'))) {
        expect(Date.now(), 'the limiter back on Redis within 20 s').toBeLessThan(deadline);
        await ask(USERS.bob);
      }
      const peek = new Redis(back.url);
      try {
        expect(await peek.exists('ferry:slack:ratelimit:U0CAROL')).toBe(0);
        await ask(USERS.carol);
        expect(await peek.exists('ferry:slack:ratelimit:U0CAROL')).toBe(1);
      } finally {
        peek.disconnect();
      }
    } finally {
      // The bot first (its loops finish their Redis calls), then the Redis it was using.
      await harness.stop();
      harness = undefined;
      await back.stop();
    }
  });
});
