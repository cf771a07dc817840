import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, type StoredMessage, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { evacuationId, progressMessages, textOf, until } from './story.js';

/**
 * Pause, Resume and Abort on the progress message: the real Bolt app against the stand-in, the
 * real engine on the simulator. Each button asks Slack for a confirm dialog first, is checked
 * against the clicker's role like the typed command, and shows its decision in the thread.
 */

const { alice, mallory } = USERS;

interface ButtonJson {
  text: { text: string };
  action_id: string;
  confirm?: { title: { text: string }; text: { text: string }; confirm: { text: string } };
}

function buttonsOf(message: StoredMessage): ButtonJson[] {
  return message.blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements as ButtonJson[]);
}

const labels = (message: StoredMessage) => buttonsOf(message).map((b) => b.text.text);

describe.each(['socket', 'http'] as const)('progress message buttons in %s mode', (mode) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('pauses, resumes and aborts from the message, behind confirm dialogs, operators only', async () => {
    // db-01 cannot converge and waits for an approval nobody gives: the evacuation stays open.
    const engine = simEngine('demo', 20);
    harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const evacuate = await slack.slash(alice, 'evacuate cmp-001 now kernel upgrade', CHANNELS.ops);
    const preview = await slack.waitFor('the preview', () => slack.answers(evacuate.responseUrl!)[0]);
    await slack.click(alice, preview, 'Confirm');
    await slack.waitFor('confirmed', () => textOf(preview).includes('Confirmed by'));
    const id = evacuationId(textOf(preview));
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    await slack.waitFor('Pause and Abort', () => labels(progress).join() === 'Pause,Abort');
    for (const b of buttonsOf(progress)) {
      expect(b.action_id).toMatch(/^ferry\.evacuation\.(pause|abort)$/);
      expect(b.confirm?.title.text).toMatch(/^(Pause|Abort) this evacuation\?$/);
      expect(b.confirm?.text.text).toContain('cmp-001');
    }
    expect(buttonsOf(progress)[1]!.confirm?.text.text).toContain('VMs stay on `cmp-001`');
    const thread = () => slack.thread(CHANNELS.ops, progress.ts).map(textOf);

    // Someone without the operator role: refused privately, audited, nothing reaches the engine.
    const before = engine.calls.filter((c) => c === 'control').length;
    const refused = await slack.click(mallory, progress, 'Pause');
    const refusal = await slack.waitFor('the refusal', () => slack.answers(refused.responseUrl!)[0]);
    expect(refusal.visibleTo).toBe(mallory);
    expect(textOf(refusal)).toMatch(/operator/);
    expect(engine.calls.filter((c) => c === 'control')).toHaveLength(before);
    const audit = await engine.service.audit(id);
    expect(audit.some((e) => e.who === mallory && e.action === 'pause' && e.refused)).toBe(true);

    // Alice pauses: the thread shows her decision, the message offers Resume.
    const paused = await slack.click(alice, progress, 'Pause');
    const told = await slack.waitFor('the answer to alice', () => slack.answers(paused.responseUrl!)[0]);
    expect(told.visibleTo).toBe(alice);
    expect(textOf(told)).toContain(`You paused ${id}`);
    await slack.waitFor('the pause in the thread', () =>
      thread().some((t) => t.includes('@U0ALICE pressed Pause')),
    );
    await until('paused', async () => (await engine.service.status(id)).state === 'paused');
    await slack.waitFor('Resume and Abort', () => labels(progress).join() === 'Resume,Abort');

    // Pressing Pause again on an old copy of the message: the engine refuses, saying why.
    const again = await slack.sendAction(alice, progress, {
      block_id: 'ferry.controls',
      action_id: 'ferry.evacuation.pause',
      value: JSON.stringify({ v: 1, id }),
    });
    const conflict = await slack.waitFor('the conflict', () => slack.answers(again.responseUrl!)[0]);
    expect(textOf(conflict)).toContain('only a draining evacuation can be paused');

    await slack.click(alice, progress, 'Resume');
    await slack.waitFor('the resume in the thread', () =>
      thread().some((t) => t.includes('@U0ALICE pressed Resume')),
    );
    await until('draining', async () => (await engine.service.status(id)).state === 'draining');
    await slack.waitFor('Pause again', () => labels(progress).join() === 'Pause,Abort');

    await slack.click(alice, progress, 'Abort');
    await slack.waitFor('the abort in the thread', () =>
      thread().some((t) => t.includes('@U0ALICE pressed Abort')),
    );
    await until('aborted', async () => (await engine.service.status(id)).state === 'aborted');
    await slack.waitFor('no buttons once it ended', () => labels(progress).length === 0);
    expect(harness.ferry.app).toBeDefined();
  });

  it('refuses a forged control value and an unknown ferry id without acting', async () => {
    const engine = simEngine('demo', 20);
    harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const message = { channel: CHANNELS.ops, ts: '1764000000.000001', text: 'x', blocks: [] };
    for (const [actionId, value] of [
      ['ferry.evacuation.abort', '{"v":1,"id":"<!channel>"}'],
      ['ferry.evacuation.abort', 'not json'],
      ['ferry.evacuation.aborts', JSON.stringify({ v: 1, id: 'evac-cmp-001' })],
    ] as const) {
      const sent = await slack.sendAction(alice, message, { block_id: 'b', action_id: actionId, value });
      const answer = await slack.waitFor('the refusal', () => slack.answers(sent.responseUrl!)[0]);
      expect(textOf(answer)).toContain('nothing was done');
    }
    expect(engine.calls).not.toContain('control');
  });
});
