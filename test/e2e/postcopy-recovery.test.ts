import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, textOf } from './story.js';

/**
 * A post-copy that stops moving, recovered from Slack. batch-01's stream stalls (a simulated
 * link that carries nothing): the stalled pre-copy is put to an approver, bob approves post-copy,
 * and the post-copy stalls too. The thread says so loudly, mentions the approvers and names
 * `/ferry recover ID`; mallory (no role) is refused, alice recovers it, the migration completes
 * and the audit has both, the refusal apart.
 */
const { alice, bob, mallory } = USERS;

describe('recovering a stalled post-copy from Slack', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('notice with the command, role-checked and audited recovery, then the migration completes', async () => {
    const engine = simEngine('small', 60, { allowPause: false, stallTimeoutS: 20 }, [
      { kind: 'stall', instance: 'batch-01', afterMs: 2000 },
    ]);
    harness = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
    });
    const { slack } = harness;
    const started = await slack.slash(alice, 'migrate batch-01 to cmp-003', CHANNELS.ops);
    const reply = await slack.waitFor('the migrate reply', () => slack.answers(started.responseUrl!)[0]);
    const id = /\(((?:mig|evac)-[^)\s]+)\)/.exec(textOf(reply))?.[1];
    expect(id, textOf(reply)).toBeDefined();
    const migrationId = `${id}:batch-01`;

    const request = await slack.waitFor(
      'the approval request',
      () => byHeader(slack.channel(CHANNELS.approvers), 'Approvals for'),
      30_000,
    );
    expect(textOf(request)).toContain('post-copy');
    await slack.click(bob, request, 'Approve');

    const thread = () =>
      slack
        .channel(CHANNELS.ops)
        .filter((m) => m.threadTs)
        .map(textOf);
    const stalled = await slack.waitFor(
      'the stalled post-copy notice',
      () => thread().find((t) => t.includes('🚨') && t.includes('post-copy has made no progress')),
      30_000,
    );
    expect(stalled).toContain(`/ferry recover ${migrationId}`);
    expect(stalled).toContain(`@${bob}`);
    expect((await engine.service.status(id!)).migrations[0]).toMatchObject({ state: 'switching-over' });

    const refused = await slack.slash(mallory, `recover ${migrationId}`, CHANNELS.ops);
    const no = await slack.waitFor('mallory’s refusal', () => slack.answers(refused.responseUrl!)[0]);
    expect(textOf(no)).toMatch(/ferry operators or ferry approvers|operators/);

    const recovered = await slack.slash(alice, `recover ${migrationId}`, CHANNELS.ops);
    const yes = await slack.waitFor('alice’s recovery', () => slack.answers(recovered.responseUrl!)[0]);
    expect(textOf(yes)).toContain(`Post-copy of ${migrationId} recovering`);

    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = (await engine.service.status(id!)).migrations[0]!;
      if (m.state === 'completed') break;
      expect(m.state, 'batch-01 completes after the recovery').not.toMatch(/failed|aborted/);
      expect(Date.now(), `batch-01 still ${m.state} 30 s after the recovery`).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    const audit = await engine.service.audit(id!);
    const recoveries = audit.filter((a) => a.action === 'recover');
    expect(recoveries).toEqual([
      expect.objectContaining({ who: mallory, refused: expect.any(String) }),
      expect.objectContaining({ who: alice, target: migrationId, detail: 'batch-01 cmp-001 → cmp-003' }),
    ]);
    expect(recoveries[1]).not.toHaveProperty('refused');
  }, 90_000);
});
