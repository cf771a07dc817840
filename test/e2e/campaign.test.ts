import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { progressMessages, textOf } from './story.js';

/**
 * A rolling campaign from chat: `/ferry campaign cmp-001,cmp-002`, one Confirm, then each host's
 * drain after the previous one ended, each with its own progress message; the first drain keeps
 * its VMs off cmp-002, which the campaign drains next, so no VM moves twice.
 */

const { alice } = USERS;

describe('a campaign from Slack', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('drains the hosts one after another, never parking a VM on a host still to come', {
    timeout: 120_000,
  }, async () => {
    // No approval in this story: the heavy writer may be throttled instead.
    const engine = simEngine('demo', 60, {
      allowAutoConverge: true,
      allowPostCopy: false,
      allowPause: false,
    });
    harness = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
      slack: { updateIntervalS: 0.3 },
    });
    const { slack } = harness;

    const command = await slack.slash(alice, 'campaign cmp-001,cmp-002 now patching', CHANNELS.ops);
    const preview = await slack.waitFor('the campaign preview', () => slack.answers(command.responseUrl!)[0]);
    expect(textOf(preview)).toContain('cmp-001');
    expect(textOf(preview)).toContain('cmp-002');
    await slack.click(alice, preview, 'Confirm');

    const first = await slack.waitFor(
      'cmp-001 drained',
      () => {
        const m = progressMessages(slack, 'cmp-001')[0];
        return m && textOf(m).includes('Evacuation of cmp-001: completed') ? m : undefined;
      },
      60_000,
    );
    const second = await slack.waitFor(
      'cmp-002 drained',
      () => {
        const m = progressMessages(slack, 'cmp-002')[0];
        return m && textOf(m).includes('Evacuation of cmp-002: completed') ? m : undefined;
      },
      60_000,
    );
    expect(first.ts).not.toBe(second.ts);

    const fleet = await engine.service.fleet();
    const on = (host: string) => fleet.instances.filter((i) => i.host === host).map((i) => i.name);
    expect(on('cmp-001')).toEqual([]);
    expect(on('cmp-002')).toEqual([]);
    expect(on('cmp-003').sort()).toEqual(['api-01', 'cache-01', 'db-01', 'web-01', 'web-02']);
    // One campaign through the engine; the engine, not Slack, started each host's drain.
    expect(engine.calls.filter((c) => c === 'confirm')).toHaveLength(1);
    expect(engine.calls.filter((c) => c === 'evacuate')).toHaveLength(0);
  });
});
