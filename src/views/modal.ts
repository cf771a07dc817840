import type { Block } from './blocks.js';
import { clip, section } from './blocks.js';

/**
 * The `/ferry evacuate` modal (opened when the command has no arguments): a form (host, when,
 * reason), then a confirmation step showing the plan, then the outcome. Pure Block Kit.
 */

export const VIEW = {
  form: 'ferry.evacuate.form',
  confirm: 'ferry.evacuate.confirm',
} as const;

/** Block ids of the form's inputs: a validation error is shown under the input with that id. */
export const FIELD = { host: 'ferry.host', when: 'ferry.when', reason: 'ferry.reason' } as const;
export type Field = (typeof FIELD)[keyof typeof FIELD];
/** The action id of each input's text element. */
export const INPUT = 'ferry.value';

export interface ModalView {
  type: 'modal';
  callback_id?: string;
  title: { type: 'plain_text'; text: string };
  submit?: { type: 'plain_text'; text: string };
  close: { type: 'plain_text'; text: string };
  private_metadata?: string;
  blocks: Array<Block | InputBlock>;
}

interface InputBlock {
  type: 'input';
  block_id: string;
  optional?: boolean;
  label: { type: 'plain_text'; text: string };
  hint?: { type: 'plain_text'; text: string };
  element: {
    type: 'plain_text_input';
    action_id: string;
    placeholder?: { type: 'plain_text'; text: string };
    initial_value?: string;
    max_length?: number;
  };
}

const plain = (text: string, max = 150) => ({ type: 'plain_text' as const, text: clip(text, max) });

function input(
  blockId: Field,
  label: string,
  placeholder: string,
  options: { optional?: boolean; hint?: string; initial?: string; maxLength: number },
): InputBlock {
  return {
    type: 'input',
    block_id: blockId,
    ...(options.optional ? { optional: true } : {}),
    label: plain(label),
    ...(options.hint ? { hint: plain(options.hint) } : {}),
    element: {
      type: 'plain_text_input',
      action_id: INPUT,
      placeholder: plain(placeholder),
      max_length: options.maxLength,
      ...(options.initial ? { initial_value: options.initial } : {}),
    },
  };
}

/** The form: which host, when (now, a time, a delay or a window), and why. */
export function evacuateForm(windows: readonly string[]): ModalView {
  const named = windows.length > 0 ? ` Windows: ${windows.join(', ')}.` : '';
  return {
    type: 'modal',
    callback_id: VIEW.form,
    title: plain('Drain a host', 24),
    submit: plain('Preview', 24),
    close: plain('Cancel', 24),
    blocks: [
      section('ferry shows the plan first; nothing starts until you confirm it.'),
      input(FIELD.host, 'Host', 'cmp-042', { maxLength: 63 }),
      input(FIELD.when, 'When', 'now', {
        optional: true,
        hint: `now (empty), at 02:00, at 2026-11-25T02:00, in 2h, or window NAME.${named}`,
        maxLength: 80,
      }),
      input(FIELD.reason, 'Reason', 'kernel upgrade', { optional: true, maxLength: 300 }),
    ],
  };
}

/** The confirmation step: the plan's blocks, Confirm as the modal's submit; the ticket rides in private_metadata. */
export function confirmStep(plan: Block[], ticket: string): ModalView {
  return {
    type: 'modal',
    callback_id: VIEW.confirm,
    title: plain('Confirm the drain', 24),
    submit: plain('Confirm', 24),
    close: plain('Back out', 24),
    private_metadata: ticket,
    // Slack's modals take 100 blocks; the preview has at most 50 and no buttons here.
    blocks: plan.filter((b) => b.type !== 'actions'),
  };
}

/** The last step: what happened, and the modal closes with Done. */
export function outcomeStep(title: string, markdown: string): ModalView {
  return { type: 'modal', title: plain(title, 24), close: plain('Done', 24), blocks: [section(markdown)] };
}
