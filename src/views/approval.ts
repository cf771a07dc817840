import { type ApprovalDecision, type ApprovalRequest, isEarlyApproval } from '../engine/model.js';
import { ACTION, encodePayload } from './actions.js';
import {
  actions,
  type Block,
  button,
  code,
  context,
  escapeMrkdwn,
  header,
  type Message,
  message,
  section,
} from './blocks.js';
import { bytes, duration, rate, time, who } from './format.js';

/** An approval request for a risky switchover, and the same message once decided. */

const KIND_WORDS = { postcopy: 'switch to post-copy', pause: 'pause the guest to finish' } as const;

export interface ApprovalViewOptions {
  timezone: string;
  /** Who asked for the evacuation this migration belongs to. */
  requester: string;
}

function facts(request: ApprovalRequest, options: ApprovalViewOptions): Block[] {
  const over = request.predictedDowntimeMs > request.downtimeSloMs;
  return [
    section(
      `*VM* ${code(request.instance)} (evacuation ${code(request.evacuationId)})\n` +
        `*Predicted downtime* ${duration(request.predictedDowntimeMs)} vs SLO ${duration(request.downtimeSloMs)}` +
        `${over ? ' — *over the SLO*' : ''}\n` +
        `*Why* ${bytes(request.remainingBytes)} still to copy; the guest dirties ${rate(request.dirtyBytesPerS)}` +
        ` and the link gives ${rate(request.bandwidthBytesPerS)}\n` +
        `*Risk* ${escapeMrkdwn(request.risk)}`,
    ),
    context(
      `Asked by ${who(options.requester)} · requested ${time(request.requestedAt, options.timezone)} · ` +
        `expires ${time(request.expiresAt, options.timezone)}; then ferry aborts and the VM stays on its source`,
    ),
  ];
}

/** Plain text (headers are plain_text; fallbacks escape it). */
function title(request: ApprovalRequest): string {
  return `Approval needed: ${KIND_WORDS[request.kind]} for ${request.instance}`;
}

/** The request with Approve / Reject. */
export function approvalRequestMessage(request: ApprovalRequest, options: ApprovalViewOptions): Message {
  const value = encodePayload({ v: 1, approvalId: request.id });
  return message(escapeMrkdwn(title(request)), [
    header(title(request)),
    ...facts(request, options),
    actions(
      'ferry.approval',
      button('Approve', ACTION.approve, value, 'primary'),
      button('Reject', ACTION.reject, value, 'danger'),
    ),
  ]);
}

/** One line saying what was decided, by whom and when. */
export function decisionLine(decision: ApprovalDecision, instance: string, timezone: string): string {
  const at = time(decision.decidedAt, timezone);
  // A pre-approval refused or lapsed changes nothing yet: its move asks again if it needs to.
  if (isEarlyApproval(decision.approvalId))
    switch (decision.outcome) {
      case 'approved':
        return `✅ Pre-approved by ${who(decision.decidedBy)} at ${at}: ${code(instance)} switches over when it needs to, without asking again`;
      case 'rejected':
        return `🚫 Pre-approval rejected by ${who(decision.decidedBy)} at ${at}: ${code(instance)} asks again if it needs to`;
      case 'expired':
        return `⌛ Pre-approval lapsed at ${at}: ${code(instance)} asks again if it needs to`;
    }
  switch (decision.outcome) {
    case 'approved':
      return `✅ Approved by ${who(decision.decidedBy)} at ${at}: ${code(instance)} switches over`;
    case 'rejected':
      return `🚫 Rejected by ${who(decision.decidedBy)} at ${at}: ${code(instance)} is aborted and stays on its source`;
    case 'expired':
      return `⌛ Expired at ${at} with no decision: ${code(instance)} is aborted and stays on its source`;
  }
}

/** The request after a decision: the facts stay, the buttons go, the decision is shown. */
export function approvalDecidedMessage(
  request: ApprovalRequest,
  decision: ApprovalDecision,
  options: ApprovalViewOptions,
): Message {
  const line = decisionLine(decision, request.instance, options.timezone);
  return message(`${escapeMrkdwn(title(request))} — ${decision.outcome}`, [
    header(title(request)),
    ...facts(request, options),
    section(line),
  ]);
}
