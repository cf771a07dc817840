import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, type StoredMessage, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, evacuationId, progressMessages, textOf } from './story.js';

/**
 * Approvals in Slack, end to end (the real Bolt app against the loopback stand-in, the real
 * engine on the simulator): one message per evacuation that mentions the approvers, asked early
 * at confirm and decided in one click; and on the live path, reminders in the request's thread
 * and the request, its expiry and failures broadcast to the channel.
 */

const { alice, bob, carol } = USERS;

/** The dialog Slack shows before it sends a click, per button label. */
function dialogs(message: StoredMessage): Record<string, unknown> {
  const found: Record<string, unknown> = {};
  for (const block of message.blocks)
    if (block.type === 'actions')
      for (const e of block.elements as Array<{ text: { text: string }; confirm?: unknown }>)
        found[e.text.text] = e.confirm;
  return found;
}

async function confirmEvacuation(harness: Harness, host: string): Promise<string> {
  const { slack } = harness;
  const evacuate = await slack.slash(alice, `evacuate ${host} now kernel upgrade`, CHANNELS.ops);
  const preview = await slack.waitFor(
    'the confirmable preview',
    () => slack.answers(evacuate.responseUrl!)[0],
  );
  expect(dialogs(preview).Confirm).toMatchObject({ title: { text: 'Start this plan?' } });
  await slack.click(alice, preview, 'Confirm');
  await slack.waitFor('the preview to say confirmed', () =>
    textOf(preview).includes('Confirmed by @U0ALICE'),
  );
  return evacuationId(textOf(preview));
}

describe('approvals in Slack', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('asks early in one message that mentions the approvers, refuses the requester, and approves all in one click', async () => {
    // One stream of 1 Gb/s: cache-01 and db-01 both need post-copy, and api-01's pre-copy would
    // send twice its memory (post-copy sends it once): all three are asked at confirm.
    // 20× (not faster): cache-01's first pass at 1 Gb/s is 137 engine seconds, 7 s of wall time
    // for the batch, alice's refused click and bob's Approve all on a loaded machine; a
    // pre-approval still undecided when its move needs it lapses, and the test would be racing.
    const engine = simEngine('demo', 20, { streamCapGbps: 1 });
    harness = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
      slack: { approvers: [alice, bob, 'S0OPS'] },
    });
    const { slack } = harness;
    const id = await confirmEvacuation(harness, 'cmp-001');

    const batch = await slack.waitFor('the approval message', () =>
      byHeader(slack.channel(CHANNELS.approvers), `Approvals for ${id}`),
    );
    await slack.waitFor('the three requests in it', () => textOf(batch).includes('3 requests waiting'));
    // The approvers are mentioned, not the requester (who is one, but cannot decide her own).
    expect(batch.text).toMatch(/^<@U0BOB> <!subteam\^S0OPS> /);
    expect(textOf(batch)).toContain('requested by @U0ALICE, who cannot decide');
    expect(textOf(batch)).toMatch(/Pre-approval.*cache-01/);
    expect(textOf(batch)).toMatch(/Pre-approval.*db-01/);
    expect(textOf(batch)).toMatch(/Pre-approval.*api-01/);
    for (const label of ['Approve all 3', 'Reject all', 'Approve', 'Reject'])
      expect(dialogs(batch)[label], label).toMatchObject({ confirm: { type: 'plain_text' } });
    // One message for the whole evacuation.
    expect(slack.channel(CHANNELS.approvers).filter((m) => m.threadTs === undefined)).toHaveLength(1);

    const own = await slack.click(alice, batch, 'Approve all 3');
    const refusal = await slack.waitFor('the refusal', () => slack.answers(own.responseUrl!)[0]);
    expect(textOf(refusal)).toContain('a second person must approve or reject it');

    const all = await slack.click(bob, batch, 'Approve all 3');
    const ack = await slack.waitFor('bob’s confirmation', () => slack.answers(all.responseUrl!)[0]);
    expect(textOf(ack)).toContain(`You approved 3 waiting requests of ${id}`);
    // Each decision edits the message as it lands: wait for the edit that shows all three.
    await slack.waitFor(
      'the decided message',
      () =>
        textOf(batch).includes('0 requests waiting') &&
        textOf(batch).match(/Pre-approved by @U0BOB/g)?.length === 3,
    );
    expect(batch.blocks.some((b) => b.type === 'actions')).toBe(false);

    // All three switch over without anyone asked again; the evacuation completes.
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    await slack.waitFor(
      'the final progress',
      () => textOf(progress).includes('Evacuation of cmp-001: completed'),
      60_000,
    );
    const thread = slack.thread(CHANNELS.ops, progress.ts).map(textOf);
    expect(thread.filter((t) => /⚡ (cache|db|api)-01 switching over by postcopy/.test(t))).toHaveLength(3);
    expect(textOf(batch)).not.toContain('Needed now');
    expect(slack.channel(CHANNELS.approvers).filter((m) => m.threadTs === undefined)).toHaveLength(1);
  }, 90_000);

  it('on the live path reminds in the request’s thread at half and nine tenths, and broadcasts the request and its expiry', async () => {
    // Asked only when needed, with 1200 engine seconds to answer (20 s of wall time at 60×): the
    // last reminder is due 2 s of wall time before the expiry, room for a loaded machine's polls.
    const engine = simEngine('demo', 60, { askEarly: false, approvalTimeoutS: 1200 });
    harness = await startHarness({
      mode: 'http',
      service: engine.service,
      now: () => engine.clock.now(),
      slack: { approvers: [bob, carol] },
    });
    const { slack } = harness;
    const id = await confirmEvacuation(harness, 'cmp-001');
    const batch = await slack.waitFor(
      'the approval message',
      () => byHeader(slack.channel(CHANNELS.approvers), `Approvals for ${id}`),
      60_000,
    );
    expect(textOf(batch)).toMatch(/Needed now.*db-01/);
    const reminders = await slack.waitFor(
      'two reminders',
      () => {
        const found = slack.thread(CHANNELS.approvers, batch.ts).filter((m) => textOf(m).startsWith('⏰'));
        return found.length === 2 && found;
      },
      40_000,
    );
    for (const reminder of reminders) {
      expect(reminder.text).toContain('<@U0BOB> <@U0CAROL>');
      expect(textOf(reminder)).toMatch(/db-01 still waits for a decision .* left/);
    }
    // Slack's chat.update budget (45 a minute, shared with the progress message) may hold the
    // update back for up to a minute.
    await slack.waitFor('the expiry on the message', () => textOf(batch).includes('Expired at'), 90_000);

    const progress = progressMessages(slack, 'cmp-001')[0]!;
    const broadcast = await slack.waitFor('the expiry broadcast to the channel', () => {
      const found = slack.thread(CHANNELS.ops, progress.ts).filter((m) => m.broadcast);
      return found.some((m) => textOf(m).includes('Expired at')) && found;
    });
    expect(broadcast.some((m) => /✋ db-01 needs approval/.test(textOf(m)))).toBe(true);
    // Routine notices stay in the thread.
    expect(broadcast.some((m) => textOf(m).includes('▶️ started'))).toBe(false);
    // Exactly two reminders, whatever the number of polls.
    expect(slack.thread(CHANNELS.approvers, batch.ts).filter((m) => textOf(m).startsWith('⏰'))).toHaveLength(
      2,
    );
  }, 180_000);
});
