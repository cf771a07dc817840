import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { simEngine } from './sim-engine.js';
import { progressMessages, textOf } from './story.js';

/**
 * `/ferry evacuate` without arguments opens a modal (views.open on the command's trigger): the
 * form is validated with errors shown under its inputs, a valid one becomes the plan's preview
 * with Confirm, and Confirm starts the drain. Operators only.
 */

const { alice, mallory } = USERS;

type Ack = { response_action?: string; errors?: Record<string, string>; view?: Record<string, unknown> };
const viewText = (view: Record<string, unknown>) => textOf({ text: '', blocks: view.blocks } as never);

describe.each(['socket', 'http'] as const)('the evacuate modal in %s mode', (mode) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it('opens on evacuate alone, shows errors in the form, previews, and starts on Confirm', async () => {
    const engine = simEngine('small', 60);
    harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;

    const typed = await slack.slash(alice, 'evacuate', CHANNELS.ops, { triggerId: 'trigger-form-1' });
    expect(typed.status).toBe(200);
    const form = await slack.waitFor('views.open', () => slack.views.find((v) => v.method === 'views.open'));
    expect(form.triggerId).toBe('trigger-form-1');
    expect(form.view.callback_id).toBe('ferry.evacuate.form');
    expect(JSON.stringify(form.view)).toContain('saturday-night');

    const submit = async (values: Record<string, string>) =>
      (await slack.submitView(alice, form, values)).body as Ack;
    expect(await submit({ 'ferry.host': 'cmp 001' })).toMatchObject({
      response_action: 'errors',
      errors: { 'ferry.host': expect.stringContaining('a host name') },
    });
    expect(await submit({ 'ferry.host': 'cmp-001', 'ferry.when': 'tomorrow-ish' })).toMatchObject({
      response_action: 'errors',
      errors: { 'ferry.when': expect.stringContaining('now, at TIME') },
    });
    expect(await submit({ 'ferry.host': 'cmp-001', 'ferry.when': 'at 25:00' })).toMatchObject({
      errors: { 'ferry.when': expect.stringContaining('not a time') },
    });
    expect(await submit({ 'ferry.host': 'cmp-999' })).toMatchObject({
      errors: { 'ferry.host': expect.stringContaining('cmp-999') },
    });
    expect(engine.calls).not.toContain('confirm');

    // A valid form: the confirmation step shows the plan, Confirm is the modal's submit.
    const step = await submit({ 'ferry.host': 'cmp-001', 'ferry.when': 'now', 'ferry.reason': 'firmware' });
    expect(step.response_action).toBe('update');
    const confirmView = step.view!;
    expect(confirmView.callback_id).toBe('ferry.evacuate.confirm');
    expect((confirmView.submit as { text: string }).text).toBe('Confirm');
    expect(viewText(confirmView)).toContain('Plan: drain cmp-001');
    expect(viewText(confirmView)).toContain('firmware');
    expect(viewText(confirmView)).not.toContain('[ Confirm ]');
    expect(engine.calls).not.toContain('confirm');

    const confirmCall = { method: 'views.open' as const, viewId: form.viewId, view: confirmView };
    // Someone else submitting alice's ticket is refused by the engine's check.
    const forged = (await slack.submitView(mallory, confirmCall, {})).body as Ack;
    expect(viewText(forged.view!)).toMatch(/operator/);
    const done = (await slack.submitView(alice, confirmCall, {})).body as Ack;
    expect(viewText(done.view!)).toMatch(/Confirmed by @U0ALICE .*evac-cmp-001-\S+ starts now/);
    await slack.waitFor('the progress message', () => progressMessages(slack, 'cmp-001')[0]);
    // The same ticket twice starts nothing more.
    const again = (await slack.submitView(alice, confirmCall, {})).body as Ack;
    expect(viewText(again.view!)).toContain('already confirmed');
    expect(engine.calls.filter((c) => c === 'confirm')).toHaveLength(2);
    expect(
      (await engine.service.list({ all: true })).filter((e) => e.request.source === 'cmp-001'),
    ).toHaveLength(1);
  });

  it('refuses the modal to someone without the operator role', async () => {
    const engine = simEngine('small', 60);
    harness = await startHarness({ mode, service: engine.service, now: () => engine.clock.now() });
    const { slack } = harness;
    const typed = await slack.slash(mallory, 'evacuate', CHANNELS.ops);
    const refusal = await slack.waitFor('the refusal', () => slack.answers(typed.responseUrl!)[0]);
    expect(textOf(refusal)).toMatch(/operator/);
    expect(slack.views).toHaveLength(0);
  });
});
