import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, type StoredMessage, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { byHeader, evacuationId, progressMessages, textOf } from './story.js';

/**
 * The whole story, end to end: the real Bolt app against the loopback Slack stand-in, the real
 * engine on the simulator. Alice (operator, also an approver) drains cmp-001; db-01 writes too
 * fast to converge, so a switchover needs approval; alice may not approve her own request; bob
 * does; the channel ends with the final progress and the post-mortem.
 */

const { alice, bob, carol } = USERS;

describe.each(['socket', 'http'] as const)('the whole story in %s mode', (mode) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('plans, confirms, shows progress, asks for approval, refuses self-approval, completes and reports', async () => {
    // The live path: asked when the move needs it (early-approvals.test.ts asks at confirm).
    const engine = simEngine('demo', 60, { askEarly: false });
    harness = await startHarness({
      mode,
      service: engine.service,
      now: () => engine.clock.now(),
      slack: { approvers: [alice, bob, carol], updateIntervalS: 0.3 },
    });
    const { slack } = harness;

    // A preview first: nothing starts.
    const plan = await slack.slash(alice, 'plan cmp-001', CHANNELS.ops);
    expect(plan.status).toBe(200);
    const preview = await slack.waitFor('the plan preview', () => slack.answers(plan.responseUrl!)[0]);
    expect(preview.visibleTo).toBe(alice);
    expect(textOf(preview)).toContain('Plan: drain cmp-001');
    expect(textOf(preview)).toMatch(/db-01 .* needs approval/);
    expect(engine.calls).toEqual(['plan']);

    // The evacuation's preview carries Confirm; alice presses it.
    const evacuate = await slack.slash(alice, 'evacuate cmp-001 now kernel upgrade', CHANNELS.ops);
    const confirmable = await slack.waitFor(
      'the confirmable preview',
      () => slack.answers(evacuate.responseUrl!)[0],
    );
    expect(textOf(confirmable)).toContain('[ Confirm ] [ Cancel ]');
    expect(engine.calls).not.toContain('evacuate');
    await slack.click(alice, confirmable, 'Confirm');
    await slack.waitFor('the preview to say confirmed', () =>
      textOf(confirmable).includes('Confirmed by @U0ALICE'),
    );
    expect(textOf(confirmable)).not.toContain('[ Confirm ]');
    expect(engine.calls.filter((c) => c === 'confirm')).toHaveLength(1);
    const id = evacuationId(textOf(confirmable));

    // One progress message, updated in place.
    const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    await slack.waitFor('two updates of the progress message', () => progress.edits >= 2);
    const updates = slack.calls.filter((c) => c.method === 'chat.update' && c.args.ts === progress.ts);
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(textOf(progress)).toContain(id);

    // The approval request goes to the approvers' channel with the facts, mentioning the approvers.
    const request = await slack.waitFor('the approval request', () =>
      byHeader(slack.channel(CHANNELS.approvers), 'Approvals for'),
    );
    expect(textOf(request)).toMatch(/Needed now: (switch to post-copy|pause the guest to finish) for db-01/);
    expect(textOf(request)).toMatch(/Predicted downtime .* vs SLO 300 ms/);
    expect(textOf(request)).toContain('requested by @U0ALICE, who cannot decide');
    expect(request.text).toMatch(/^<@U0BOB> <@U0CAROL> /);

    // Alice asked for the evacuation: her approval is refused and never reaches the engine.
    const own = await slack.click(alice, request, 'Approve');
    const refusal = await slack.waitFor('the refusal', () => slack.answers(own.responseUrl!)[0]);
    expect(refusal.visibleTo).toBe(alice);
    expect(textOf(refusal)).toContain('you asked for this evacuation, so another approver must decide');
    expect(engine.calls).not.toContain('decide');
    expect(textOf(request)).toContain('[ Approve ]');

    // Bob approves: the request shows who decided, without buttons.
    const approved = await slack.click(bob, request, 'Approve');
    const ack = await slack.waitFor('bob’s confirmation', () => slack.answers(approved.responseUrl!)[0]);
    expect(textOf(ack)).toMatch(/You approved db-01/);
    expect(engine.calls.filter((c) => c === 'decide')).toHaveLength(1);
    await slack.waitFor('the decided request', () => textOf(request).includes('Approved by @U0BOB'));
    expect(textOf(request)).not.toContain('[ Approve ]');

    // Completion: the same message shows the end; the thread has the notable events.
    await slack.waitFor('the final progress', () =>
      textOf(progress).includes('Evacuation of cmp-001: completed'),
    );
    expect(progressMessages(slack, 'cmp-001')).toHaveLength(1);
    // The final edit may go out before the thread's last notice is queued (one poll handles both).
    await slack.waitFor('the finished notice', () =>
      slack.thread(CHANNELS.ops, progress.ts).some((m) => textOf(m).includes('🏁 finished: completed')),
    );
    const thread = slack.thread(CHANNELS.ops, progress.ts).map(textOf);
    expect(thread.some((t) => t.includes('▶️ started'))).toBe(true);
    expect(thread.some((t) => /✋ db-01 needs approval/.test(t))).toBe(true);
    expect(thread.some((t) => t.includes('✅ Approved by @U0BOB'))).toBe(true);
    expect(thread.some((t) => t.includes('🏁 finished: completed'))).toBe(true);
    expect(thread.filter((t) => t.includes('▶️ started'))).toHaveLength(1);

    // The post-mortem, posted to the channel.
    const report = await slack.waitFor('the post-mortem', () =>
      byHeader(slack.channel(CHANNELS.ops), 'Post-mortem: evacuation of cmp-001'),
    );
    expect(report.threadTs).toBeUndefined();
    expect(report.visibleTo).toBeUndefined();
    const text = textOf(report);
    expect(text).toContain('Outcome ✅ completed — 5 of 5 VMs moved');
    expect(text).toMatch(/Duration .* against .* planned/);
    expect(text).toMatch(/db-01 +cmp-00[23] +completed +(postcopy|pause)/);
    expect(text).toMatch(/db-01 asked to (switch to post-copy|pause the guest) at .*: approved by @U0BOB/);
    expect(text).toContain('Recommendations');

    // Anyone may read it again.
    const again = await slack.slash(carol, `report ${id}`, CHANNELS.ops);
    const reread = await slack.waitFor('the report reply', () => slack.answers(again.responseUrl!)[0]);
    expect(textOf(reread)).toContain('Post-mortem: evacuation of cmp-001 — completed');
  }, 90_000);
});

describe('HTTP mode signatures', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('refuses bad and stale signatures with 401 and never reaches the engine', async () => {
    const engine = simEngine('demo', 60);
    harness = await startHarness({ mode: 'http', service: engine.service });
    const { slack } = harness;
    const body = new URLSearchParams({
      command: '/ferry',
      text: 'evacuate cmp-001 now',
      user_id: alice,
      channel_id: CHANNELS.ops,
      team_id: 'T0FERRY',
      response_url: `${slack.apiUrl}../respond/none`,
      trigger_id: 't',
    }).toString();
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string, number]> = [
      ['wrong secret', slack.sign(body, now, 'not-the-secret'), now],
      ['tampered signature', slack.sign(body, now).replace(/.$/, (c) => (c === '0' ? '1' : '0')), now],
      ['stale timestamp', slack.sign(body, now - 600), now - 600],
      ['no signature', '', now],
    ];
    for (const [what, signature, timestamp] of cases) {
      const reply = await slack.postSigned(body, signature, timestamp);
      expect(reply.status, what).toBe(401);
    }
    // The same request, correctly signed, is accepted: the refusals were about the signature.
    const help = body.replace('evacuate+cmp-001+now', 'help');
    const good = await slack.postSigned(help, slack.sign(help, now), now);
    expect(good.status).toBe(200);
    expect(engine.calls).toEqual([]);
    expect(slack.messages.filter((m: StoredMessage) => m.channel === CHANNELS.ops && !m.visibleTo)).toEqual(
      [],
    );
  });
});
