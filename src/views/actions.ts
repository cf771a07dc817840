import { z } from 'zod';
import { ID_PATTERN } from '../engine/model.js';

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
  approveAll: 'ferry.approval.approve-all',
  rejectAll: 'ferry.approval.reject-all',
  pause: 'ferry.evacuation.pause',
  resume: 'ferry.evacuation.resume',
  abort: 'ferry.evacuation.abort',
  recover: 'ferry.postcopy.recover',
} as const;

export type ActionId = (typeof ACTION)[keyof typeof ACTION];

/**
 * Confirm and Cancel carry only the issued plan's id and its nonce: what runs, who may press
 * it, until when and whether it was used are in the engine's store, never in the button.
 */
export const confirmPayloadSchema = z.strictObject({
  v: z.literal(2),
  planId: z.string().regex(/^plan-[A-Za-z0-9_-]{8,64}$/),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/),
});
export type ConfirmPayload = z.infer<typeof confirmPayloadSchema>;

export const approvalPayloadSchema = z.strictObject({
  v: z.literal(1),
  approvalId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,200}$/),
});
export type ApprovalPayload = z.infer<typeof approvalPayloadSchema>;

/** Pause, Resume and Abort on a progress message name only the evacuation (or campaign); the clicker's role is checked. */
export const controlPayloadSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(ID_PATTERN),
});
export type ControlPayload = z.infer<typeof controlPayloadSchema>;

/** Approve all / Reject all name only the evacuation: what waits is read from the engine when clicked. */
export const approvalAllPayloadSchema = z.strictObject({
  v: z.literal(1),
  evacuationId: z.string().regex(ID_PATTERN),
});
export type ApprovalAllPayload = z.infer<typeof approvalAllPayloadSchema>;

/** Recover on a stalled post-copy's notice names only the migration (EVACUATION:VM); the engine checks the rest. */
export const recoverPayloadSchema = z.strictObject({
  v: z.literal(1),
  migrationId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}:[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
});
export type RecoverPayload = z.infer<typeof recoverPayloadSchema>;

/** Button values are compact JSON. */
export function encodePayload(
  payload: ConfirmPayload | ApprovalPayload | ControlPayload | ApprovalAllPayload | RecoverPayload,
): string {
  return JSON.stringify(payload);
}
