import { afterEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../../src/demo/redis.js';
import { CHANNELS, type Harness, SlackStandin, startHarness, TOKENS, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, evacuationId, progressMessages, textOf } from './story.js';

/**
 * What must survive: a bot restart mid-evacuation (the progress message's place lives in Redis,
 * so the new process edits the same message), and a storm of HTTP 429s from Slack (the final
 * state still lands). Both drain the small example fleet, which ends `partial`: two of its VMs
 * cannot leave cmp-001 (PCI passthrough, anti-affinity). With post-copy and pause off, its heavy
 * writer moves by auto-converge, so no approval holds the story up.
 */
const NO_APPROVALS = { allowPostCopy: false, allowPause: false };

const { alice } = USERS;

async function confirmEvacuation(harness: Harness, host: string): Promise<string> {
  const { slack } = harness;
  const delivery = await slack.slash(alice, `evacuate ${host} now`, CHANNELS.ops);
  const preview = await slack.waitFor('the preview', () => slack.answers(delivery.responseUrl!)[0]);
  await slack.click(alice, preview, 'Confirm');
  await slack.waitFor('the confirmation', () => textOf(preview).includes('Confirmed by'));
  return evacuationId(textOf(preview));
}

describe('resilience', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop();
  });

  it('continues the same progress message after the bot restarts on the same Redis', async () => {
    const redis: RedisServer = await startRedis();
    cleanup.push(() => redis.stop());
    const slack = new SlackStandin({ ...TOKENS });
    await slack.start();
    cleanup.push(() => slack.stop());
    const engine = simEngine('small', 40, NO_APPROVALS);
    const start = () =>
      startHarness({
        mode: 'socket',
        service: engine.service,
        now: () => engine.clock.now(),
        redis,
        standin: slack,
      });

    const first = await start();
    const id = await confirmEvacuation(first, 'cmp-001');
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    await slack.waitFor('a first update', () => progress.edits >= 1);
    await first.stop();
    const editsBefore = progress.edits;
    const callsBefore = slack.calls.length;
    expect(textOf(progress)).toContain('Evacuation of cmp-001: draining');

    // A new process: it knows nothing but what Redis holds.
    const second = await start();
    cleanup.push(() => second.stop());
    await slack.waitFor(
      'the final state',
      () => textOf(progress).includes('Evacuation of cmp-001: partial'),
      30_000,
    );
    expect(progress.edits).toBeGreaterThan(editsBefore);
    const later = slack.calls.slice(callsBefore);
    expect(later.some((c) => c.method === 'chat.update' && c.args.ts === progress.ts)).toBe(true);
    // The thread's notices and the post-mortem follow the final state: wait for both, then check
    // that nothing came twice (no second progress message, no notice repeated in the thread).
    const finished = () =>
      slack
        .thread(CHANNELS.ops, progress.ts)
        .map(textOf)
        .filter((t) => t.includes('🏁 finished'));
    await slack.waitFor('the finished notice', () => finished().length > 0);
    const report = await slack.waitFor('the post-mortem', () =>
      byHeader(slack.channel(CHANNELS.ops), 'Post-mortem: evacuation of cmp-001'),
    );
    expect(progressMessages(slack, 'cmp-001')).toHaveLength(1);
    const thread = slack.thread(CHANNELS.ops, progress.ts).map(textOf);
    expect(thread.filter((t) => t.includes('▶️ started'))).toHaveLength(1);
    expect(finished()).toHaveLength(1);
    expect(textOf(report)).toContain(id);
    expect(slack.channel(CHANNELS.ops).filter((m) => textOf(m).startsWith('== Post-mortem'))).toHaveLength(1);
  }, 60_000);

  it('shows the final state through a storm of 429s, honouring Retry-After', async () => {
    const engine = simEngine('small', 40, NO_APPROVALS);
    const harness = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
      slack: { updateIntervalS: 0.1 },
    });
    cleanup.push(() => harness.stop());
    const { slack } = harness;
    // For six seconds, most writes are refused with 429 and Retry-After: 1; then Slack calms down.
    const storm = setInterval(() => {
      slack.rateLimit('chat.update', 3, 1);
      slack.rateLimit('chat.postMessage', 1, 1);
    }, 700);
    const calm = setTimeout(() => clearInterval(storm), 6000);
    cleanup.push(async () => {
      clearInterval(storm);
      clearTimeout(calm);
    });
    await confirmEvacuation(harness, 'cmp-001');
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    const report = await slack.waitFor(
      'the post-mortem',
      () => byHeader(slack.channel(CHANNELS.ops), 'Post-mortem: evacuation of cmp-001'),
      45_000,
    );
    await slack.waitFor(
      'the final state',
      () => textOf(progress).includes('Evacuation of cmp-001: partial'),
      20_000,
    );
    expect(textOf(report)).toContain('Outcome ⚠️ partial');
    const limited = slack.calls.filter((c) => c.status === 429);
    expect(limited.filter((c) => c.method === 'chat.update').length).toBeGreaterThan(3);
    expect(limited.filter((c) => c.method === 'chat.postMessage').length).toBeGreaterThan(1);
    // Retry-After was honoured: after a 429, the next call of that method waited the second asked for.
    for (const method of ['chat.update', 'chat.postMessage']) {
      const calls = slack.calls.filter((c) => c.method === method);
      calls.forEach((call, i) => {
        if (call.status === 429 && calls[i + 1])
          expect(calls[i + 1]!.at - call.at).toBeGreaterThanOrEqual(950);
      });
      expect(calls.at(-1)!.status).toBe(200);
    }
    expect(progressMessages(slack, 'cmp-001')).toHaveLength(1);
    // The thread's notice goes through the same paced outbox as the final edit and may land after
    // it: wait for it, then check that it came once.
    const finished = () =>
      slack
        .thread(CHANNELS.ops, progress.ts)
        .map(textOf)
        .filter((t) => t.includes('🏁 finished'));
    await slack.waitFor('the finished notice', () => finished().length > 0, 20_000);
    expect(finished()).toHaveLength(1);
  }, 90_000);
});
