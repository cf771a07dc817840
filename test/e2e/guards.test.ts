import { afterEach, describe, expect, it } from 'vitest';
import { ACTION, encodePayload } from '../../src/views/actions.js';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { spyService } from '../support/spy-service.js';
import { simEngine } from './sim-engine.js';
import { textOf } from './story.js';

/**
 * Roles and buttons over the real Bolt app: someone outside the configured roles, and anyone
 * forging or replaying a button, changes nothing — the engine is never called but to record the
 * refusal in the audit — and is told why.
 */

const { alice, bob, carol, mallory } = USERS;

describe('who may do what, end to end', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('refuses a non-member’s commands and forged buttons, calling the engine only to audit the refusals', async () => {
    const spy = spyService();
    harness = await startHarness({ mode: 'socket', service: spy.service });
    const { slack } = harness;
    const answer = async (delivery: { responseUrl?: string }) => {
      const reply = await slack.waitFor('an answer', () => slack.answers(delivery.responseUrl!)[0]);
      expect(reply.visibleTo).toBe(mallory);
      return textOf(reply);
    };

    expect(await answer(await slack.slash(mallory, 'evacuate cmp-001 now', CHANNELS.ops))).toContain(
      'only ferry operators may run /ferry evacuate',
    );
    expect(await answer(await slack.slash(mallory, 'plan cmp-001', CHANNELS.ops))).toContain(
      'only ferry operators may run /ferry plan',
    );
    expect(
      await answer(await slack.slash(mallory, 'abort evac-cmp-001-20261124T0200', CHANNELS.ops)),
    ).toContain('only ferry operators');

    const where = { channel: CHANNELS.ops, ts: '1764000000.000001', text: 'x', blocks: [] };
    const ticket = encodePayload({ v: 2, planId: 'plan-forged123', nonce: 'forged-nonce-1' });
    // The old button shape, values and all: a start in 285 years, a host twice, control characters.
    const valued = JSON.stringify({
      v: 1,
      nonce: 'forged-nonce-1',
      requestedBy: alice,
      hosts: ['cmp-001', 'cmp-001'],
      when: { kind: 'at', at: Date.UTC(2311, 0, 1) },
      reason: 'x\u0007y',
    });
    const withValues = JSON.stringify({
      v: 2,
      planId: 'plan-forged123',
      nonce: 'forged-nonce-1',
      hosts: ['cmp-001'],
    });
    const forged: Array<[string, string, string]> = [
      [ACTION.confirm, ticket, 'only ferry operators may start an evacuation'],
      [ACTION.cancel, ticket, 'only ferry operators may cancel a plan'],
      [ACTION.confirm, valued, 'not what ferry sent'],
      [ACTION.confirm, withValues, 'not what ferry sent'],
      [
        ACTION.approve,
        encodePayload({ v: 1, approvalId: 'evac-x:db-01:approval-1' }),
        'only ferry approvers',
      ],
      [ACTION.reject, '{"v":1,"approvalId":"x","extra":true}', 'not what ferry sent'],
      ['ferry.admin.drop_all', '{}', 'not one of ferry’s'],
    ];
    for (const [actionId, value, says] of forged) {
      const delivery = await slack.sendAction(mallory, where, { block_id: 'b', action_id: actionId, value });
      expect(await answer(delivery)).toContain(says);
    }
    // Nothing reached the engine but the audit entry of each refusal (the three commands, every button).
    expect(spy.calls).toEqual(Array(3 + forged.length).fill('recordRefusal'));
    expect(slack.messages.filter((m) => !m.visibleTo)).toEqual([]);
  });

  it('starts an evacuation once however often its Confirm is replayed, and only for its requester', async () => {
    const engine = simEngine('small', 40);
    harness = await startHarness({ mode: 'http', service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const delivery = await slack.slash(alice, 'evacuate cmp-002 now', CHANNELS.ops);
    const preview = await slack.waitFor('the preview', () => slack.answers(delivery.responseUrl!)[0]);
    const snapshot = { ...preview, blocks: structuredClone(preview.blocks) };

    // Carol (an operator, not the requester) cannot confirm alice's plan; bob (no operator) neither.
    const carols = await slack.click(carol, snapshot, 'Confirm');
    const refusal = await slack.waitFor('carol’s refusal', () => slack.answers(carols.responseUrl!)[0]);
    expect(textOf(refusal)).toContain('only @U0ALICE, who asked for this plan, may confirm it');
    const bobs = await slack.click(bob, snapshot, 'Confirm');
    const bobsRefusal = await slack.waitFor('bob’s refusal', () => slack.answers(bobs.responseUrl!)[0]);
    expect(textOf(bobsRefusal)).toContain('only ferry operators may start an evacuation');
    expect(await engine.service.list({ all: true })).toEqual([]);

    await slack.click(alice, snapshot, 'Confirm');
    await slack.waitFor('the confirmation', () => textOf(preview).includes('Confirmed by @U0ALICE'));
    // The same click again (a replayed payload): refused, nothing more started.
    const replay = await slack.click(alice, snapshot, 'Confirm');
    const replayed = await slack.waitFor('the replay’s answer', () =>
      slack.answers(replay.responseUrl!).find((m) => m.visibleTo === alice),
    );
    expect(textOf(replayed)).toContain('this plan was already confirmed by @U0ALICE');
    expect(await engine.service.list({ all: true })).toHaveLength(1);

    // A ticket ferry never issued, from an operator: refused by the engine.
    const forged = {
      ...snapshot,
      blocks: JSON.parse(
        JSON.stringify(snapshot.blocks).replace(/plan-[A-Za-z0-9_-]+/g, 'plan-neverissued1'),
      ),
    };
    const forgery = await slack.click(alice, forged, 'Confirm');
    const forgedAnswer = await slack.waitFor('the forgery’s answer', () =>
      slack.answers(forgery.responseUrl!).find((m) => m.visibleTo === alice),
    );
    expect(textOf(forgedAnswer)).toContain('ferry did not issue this plan');
    expect(await engine.service.list({ all: true })).toHaveLength(1);
  });
});
