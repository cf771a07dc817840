import { afterEach, describe, expect, it } from 'vitest';
import { auditMessage } from '../../src/views/audit.js';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { limitViolations } from '../views/fixtures.js';
import { simEngine } from './sim-engine.js';
import { evacuationId, textOf } from './story.js';

/**
 * `/ferry audit [ID]` over the real Bolt app: what was done and, apart, every refused attempt —
 * a user without a role, a Confirm by someone else — for operators and approvers only.
 */

const { alice, bob, carol, mallory } = USERS;

describe('the audit from Slack', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('shows operators and approvers what was done and every refusal, and refuses (and records) anyone else', async () => {
    const engine = simEngine('small', 40);
    harness = await startHarness({ mode: 'http', service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const answer = async (user: string, text: string) => {
      const delivery = await slack.slash(user, text, CHANNELS.ops);
      return slack.waitFor(`the answer to ${text}`, () => slack.answers(delivery.responseUrl!)[0]);
    };

    expect(textOf(await answer(mallory, 'abort evac-cmp-002-x'))).toContain('only ferry operators');
    const preview = await answer(alice, 'evacuate cmp-002 now kernel upgrade');
    const snapshot = { ...preview, blocks: structuredClone(preview.blocks) };
    const carols = await slack.click(carol, snapshot, 'Confirm');
    await slack.waitFor('carol’s refusal', () => slack.answers(carols.responseUrl!)[0]);
    await slack.click(alice, snapshot, 'Confirm');
    await slack.waitFor('the confirmation', () => textOf(preview).includes('Confirmed by @U0ALICE'));
    const id = evacuationId(textOf(preview));

    const refused = await answer(mallory, 'audit');
    expect(refused.visibleTo).toBe(mallory);
    expect(textOf(refused)).toContain('only ferry operators or ferry approvers may run /ferry audit');

    const all = textOf(await answer(bob, 'audit'));
    expect(all).toMatch(/Done \(1\)[\s\S]*@U0ALICE evacuate `?evac-cmp-002/);
    expect(all).toContain('Refused (3)');
    expect(all).toMatch(/@U0MALLORY abort `?evac-cmp-002-x`? — refused: only ferry operators/);
    expect(all).toMatch(/@U0CAROL confirm `?plan-[^ ]+`? — refused: this plan was issued to U0ALICE/);
    expect(all).toMatch(/@U0MALLORY audit .* — refused: only ferry operators or ferry approvers/);
    expect(all.indexOf('@U0MALLORY abort')).toBeLessThan(all.indexOf('@U0CAROL confirm'));

    const one = textOf(await answer(alice, `audit ${id}`));
    expect(one).toContain(`Audit: ${id}`);
    expect(one).toContain('Done (1)');
    expect(one).toMatch(/@U0CAROL confirm/);
    expect(one).not.toContain('@U0MALLORY');
  });

  it('keeps a long trail within Slack’s limits, showing the latest entries', () => {
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      at: Date.UTC(2026, 10, 24, 2, 0) + i * 1000,
      who: i % 3 ? 'U0ALICE' : 'U0MALLORY',
      action: i % 3 ? 'pause' : 'abort',
      target: `evac-cmp-${String(i).padStart(4, '0')}-20261124T0200`,
      via: 'slack',
      ...(i % 3
        ? { detail: 'x'.repeat(200) }
        : { refused: `only ferry operators may run /ferry abort <!channel> ${i}` }),
    }));
    const message = auditMessage(entries, { timezone: 'UTC' });
    expect(limitViolations(message)).toEqual([]);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('evac-cmp-2999');
    expect(text).not.toContain('evac-cmp-0001-');
    expect(text).toMatch(/\d+ earlier entries not shown/);
    expect(text).not.toContain('<!channel>');
  });
});
