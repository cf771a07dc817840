import { afterEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../../src/demo/redis.js';
import { simEngine } from '../e2e/sim-engine.js';
import { progressMessages } from '../e2e/story.js';
import { type Harness, startHarness } from '../support/fake-slack.js';

/**
 * `stop()` is bounded whatever Redis does: every ferry command waits for Redis to come back, so
 * with Redis gone the progress loop's poll would hold stop for ever. A real redis-server is
 * stopped under a running bot; stop must still return, after its grace period.
 */
describe('stopping ferry', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop();
  });

  it('returns while Redis is down, its poll in flight cut off', { timeout: 90_000 }, async () => {
    const redis: RedisServer = await startRedis();
    cleanup.push(() => redis.stop());
    const engine = simEngine('small', 40, { allowPostCopy: false, allowPause: false });
    const log: string[] = [];
    const harness: Harness = await startHarness({
      mode: 'socket',
      service: engine.service,
      redis,
      log: (line) => log.push(line),
    });
    let stopped = false;
    cleanup.push(async () => {
      if (!stopped) await harness.slack.stop();
    });
    const { slack, ferry } = harness;
    const { id } = await engine.service.evacuate({
      source: 'cmp-001',
      requestedBy: 'U0ALICE',
      maintenance: false,
      when: { kind: 'now' },
    });
    await ferry.ferry.progress.follow(id);
    await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);

    await redis.stop();
    // The bot's client has noticed: its commands now wait for a Redis that does not come back.
    await slack.waitFor('the bot to lose Redis', () =>
      log.some((l) => /redis: .*(ECONNREFUSED|closed)/.test(l)),
    );
    const outcome = await Promise.race([
      ferry.stop().then(() => 'stopped' as const),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 45_000).unref()),
    ]);
    stopped = outcome === 'stopped';
    expect(outcome).toBe('stopped');
    expect(log.join('\n')).toMatch(/did not finish within 5000 ms/);
    await slack.stop();
  });
});
