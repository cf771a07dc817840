import { z } from 'zod';
import { NAME_PATTERN } from '../engine/model.js';

/**
 * The buttons ferry puts in messages: action ids and the zod schemas of their values. A click's
 * value comes back from Slack untrusted (anyone can forge one), so handlers parse it with these
 * and then check who clicked.
 */

export const ACTION = {
  confirm: 'ferry.plan.confirm',
  cancel: 'ferry.plan.cancel',
  approve: 'ferry.approval.approve',
  reject: 'ferry.approval.reject',
} as const;

export type ActionId = (typeof ACTION)[keyof typeof ACTION];

const name = z.string().regex(NAME_PATTERN);
const user = z.string().regex(/^[UW][A-Z0-9]{2,20}$/);
const when = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('now') }),
  z.strictObject({ kind: z.literal('at'), at: z.number().int() }),
  z.strictObject({ kind: z.literal('in'), ms: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('window'), name }),
]);

/** What Confirm starts, who may press it, and a single-use nonce against replays. */
export const confirmPayloadSchema = z.strictObject({
  v: z.literal(1),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
  requestedBy: user,
  hosts: z.array(name).min(1).max(50),
  when,
  reason: z.string().max(300).optional(),
});
export type ConfirmPayload = z.infer<typeof confirmPayloadSchema>;

export const approvalPayloadSchema = z.strictObject({
  v: z.literal(1),
  approvalId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$/),
});
export type ApprovalPayload = z.infer<typeof approvalPayloadSchema>;

/** Button values are compact JSON. */
export function encodePayload(payload: ConfirmPayload | ApprovalPayload): string {
  return JSON.stringify(payload);
}
