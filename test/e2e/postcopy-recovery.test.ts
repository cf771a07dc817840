import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, progressMessages, textOf, until } from './story.js';

/**
 * A post-copy that stops moving, recovered from Slack. batch-01's stream stalls (a simulated
 * link that carries nothing): the stalled pre-copy is put to an approver, bob approves post-copy,
 * and the post-copy stalls too. The thread says so loudly, mentions the approvers and names
 * `/ferry recover ID`; mallory (no role) is refused, alice recovers it, the migration completes
 * and the audit has both, the refusal apart.
 */
const { alice, bob, mallory } = USERS;

/**
 * batch-01 moved by alice while its stream stalls, bob approving post-copy: returns once the
 * thread has the stalled post-copy's notice, with the harness, the engine and the ids.
 */
async function stalledPostcopy(mode: 'socket' | 'http', log?: (line: string) => void) {
  const engine = simEngine('small', 60, { allowPause: false, stallTimeoutS: 20 }, [
    { kind: 'stall', instance: 'batch-01', afterMs: 2000 },
  ]);
  const harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now(), log });
  const { slack } = harness;
  const started = await slack.slash(alice, 'migrate batch-01 to cmp-003', CHANNELS.ops);
  const reply = await slack.waitFor('the migrate reply', () => slack.answers(started.responseUrl!)[0]);
  const id = /\(((?:mig|evac)-[^)\s]+)\)/.exec(textOf(reply))?.[1];
  expect(id, textOf(reply)).toBeDefined();
  const request = await slack.waitFor(
    'the approval request',
    () => byHeader(slack.channel(CHANNELS.approvers), 'Approvals for'),
    30_000,
  );
  expect(textOf(request)).toContain('post-copy');
  await slack.click(bob, request, 'Approve');
  const notice = await slack.waitFor(
    'the stalled post-copy notice',
    () =>
      slack
        .channel(CHANNELS.ops)
        .find(
          (m) =>
            m.threadTs && textOf(m).includes('🚨') && textOf(m).includes('post-copy has made no progress'),
        ),
    30_000,
  );
  return { harness, engine, id: id!, migrationId: `${id}:batch-01`, notice };
}

describe('recovering a stalled post-copy from Slack', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('notice with the command, role-checked and audited recovery, then the migration completes', async () => {
    const stall = await stalledPostcopy('socket');
    harness = stall.harness;
    const { slack } = harness;
    const { engine, id, migrationId } = stall;
    const stalled = textOf(stall.notice);
    expect(stalled).toContain(`/ferry recover ${migrationId}`);
    expect(stalled).toContain(`@${bob}`);
    expect((await engine.service.status(id)).migrations[0]).toMatchObject({ state: 'switching-over' });

    const refused = await slack.slash(mallory, `recover ${migrationId}`, CHANNELS.ops);
    const no = await slack.waitFor('mallory’s refusal', () => slack.answers(refused.responseUrl!)[0]);
    expect(textOf(no)).toMatch(/ferry operators or ferry approvers|operators/);

    const recovered = await slack.slash(alice, `recover ${migrationId}`, CHANNELS.ops);
    const yes = await slack.waitFor('alice’s recovery', () => slack.answers(recovered.responseUrl!)[0]);
    expect(textOf(yes)).toContain(`Post-copy of ${migrationId} recovering`);

    const deadline = Date.now() + 30_000;
    for (;;) {
      const m = (await engine.service.status(id)).migrations[0]!;
      if (m.state === 'completed') break;
      expect(m.state, 'batch-01 completes after the recovery').not.toMatch(/failed|aborted/);
      expect(Date.now(), `batch-01 still ${m.state} 30 s after the recovery`).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    const audit = await engine.service.audit(id);
    const recoveries = audit.filter((a) => a.action === 'recover');
    expect(recoveries).toEqual([
      expect.objectContaining({ who: mallory, refused: expect.any(String) }),
      expect.objectContaining({ who: alice, target: migrationId, detail: 'batch-01 cmp-001 → cmp-003' }),
    ]);
    expect(recoveries[1]).not.toHaveProperty('refused');
  }, 90_000);
});

interface RecoverButton {
  text: { text: string };
  action_id: string;
  value: string;
  confirm?: { title: { text: string }; text: { text: string } };
}

/**
 * The Recover button under the stalled post-copy's notice, in both transports: a confirm dialog
 * first, the clicker's role checked like `/ferry recover`, a forged value refused, the decision
 * written in the thread, the runner's outcome after it, and a replayed click acting once.
 */
describe.each(['socket', 'http'] as const)('the Recover button on a stalled post-copy in %s mode', (mode) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('recovers once, for operators and approvers only, and says so in the thread', async () => {
    const lines: string[] = [];
    const stall = await stalledPostcopy(mode, (line) => lines.push(line));
    harness = stall.harness;
    const { slack } = harness;
    const { engine, id, migrationId, notice } = stall;
    const buttons = notice.blocks
      .filter((b) => b.type === 'actions')
      .flatMap((b) => b.elements as RecoverButton[]);
    expect(buttons.map((b) => [b.text.text, b.action_id])).toEqual([['Recover', 'ferry.postcopy.recover']]);
    expect(buttons[0]!.confirm?.title.text).toBe('Recover this post-copy?');
    expect(buttons[0]!.confirm?.text.text).toContain('`batch-01`');
    const thread = () => slack.thread(CHANNELS.ops, notice.threadTs!).map(textOf);

    // The progress message shows the stall on its row, with the same Recover as the notice.
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    await slack.waitFor('the stall on the progress message', () =>
      textOf(progress).includes('🚨 post-copy stalled'),
    );
    const onProgress = () =>
      progress.blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements as RecoverButton[]);
    await slack.waitFor('Recover on the progress message', () =>
      onProgress().some((b) => b.text.text === 'Recover batch-01'),
    );
    const fromProgress = onProgress().find((b) => b.text.text === 'Recover batch-01')!;
    expect([fromProgress.action_id, fromProgress.value]).toEqual([buttons[0]!.action_id, buttons[0]!.value]);

    // No role: refused privately and audited; the engine is not asked.
    const refused = await slack.click(mallory, notice, 'Recover');
    const no = await slack.waitFor('mallory’s refusal', () => slack.answers(refused.responseUrl!)[0]);
    expect(no.visibleTo).toBe(mallory);
    expect(textOf(no)).toMatch(/operators|approvers/);
    expect(engine.calls).not.toContain('recoverPostcopy');

    // A forged value (not a migration id) is refused before anything is looked up.
    const forged = await slack.sendAction(alice, notice, {
      block_id: 'b',
      action_id: 'ferry.postcopy.recover',
      value: JSON.stringify({ v: 1, migrationId: '<!channel>' }),
    });
    const forgery = await slack.waitFor('the forgery’s refusal', () => slack.answers(forged.responseUrl!)[0]);
    expect(textOf(forgery)).toContain('nothing was done');
    expect(engine.calls).not.toContain('recoverPostcopy');

    // Alice recovers: her decision in the thread, then the runner's word that it ran.
    const triggerId = `trigger-recover-${mode}`;
    const action = { block_id: 'b', action_id: buttons[0]!.action_id, value: buttons[0]!.value };
    const pressed = await slack.sendAction(alice, notice, action, { triggerId });
    const yes = await slack.waitFor('alice’s answer', () => slack.answers(pressed.responseUrl!)[0]);
    expect(yes.visibleTo).toBe(alice);
    expect(textOf(yes)).toContain(`You asked to recover ${migrationId}`);
    await slack.waitFor('the decision in the thread', () =>
      thread().some((t) => t.includes(`@${alice} pressed Recover for ${migrationId}`)),
    );
    await slack.waitFor(
      'the runner’s recovery in the thread',
      () => thread().some((t) => t.includes(`post-copy recovery started (asked by @${alice})`)),
      30_000,
    );

    // The same click delivered again (Socket Mode redelivers the envelope; over HTTP the same
    // trigger_id): acknowledged, not acted on.
    if (mode === 'socket') await slack.redeliver(pressed.envelopeId!);
    else await slack.sendAction(alice, notice, action, { triggerId });
    await slack.waitFor('the replay to be ignored', () =>
      lines.some((l) => l.includes('ignored a replayed request')),
    );

    await until(
      'batch-01 completes after the recovery',
      async () => (await engine.service.status(id)).migrations[0]!.state === 'completed',
      30_000,
    );
    const recoveries = (await engine.service.audit(id)).filter((a) => a.action === 'recover');
    expect(recoveries).toEqual([
      expect.objectContaining({ who: mallory, refused: expect.any(String) }),
      expect.objectContaining({ who: alice, target: migrationId }),
    ]);
    // Moving again ended the stall: the row no longer shows it, and the button is gone.
    await slack.waitFor(
      'the progress message without the stall',
      () => !textOf(progress).includes('post-copy stalled'),
    );
    expect(onProgress().some((b) => b.text.text.startsWith('Recover'))).toBe(false);
    const events = await engine.service.events(id);
    expect(events.filter((e) => e.type === 'migration.postcopy-recovery')).toEqual([
      expect.objectContaining({ migrationId, by: alice, ok: true }),
    ]);
  }, 90_000);
});
