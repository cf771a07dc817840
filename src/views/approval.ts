import {
  type ApprovalDecision,
  type ApprovalRequest,
  type ApprovalView,
  isEarlyApproval,
} from '../engine/model.js';
import { ACTION, encodePayload } from './actions.js';
import {
  actions,
  type Block,
  blockText,
  button,
  code,
  confirmDialog,
  context,
  escapeMrkdwn,
  header,
  LIMITS,
  type Message,
  message,
  packLines,
  section,
} from './blocks.js';
import { bytes, duration, mentions, plural, rate, time, who } from './format.js';

/**
 * One approval message per evacuation: every request waiting for a decision with Approve /
 * Reject (each behind a confirm dialog), Approve all / Reject all when more than one waits, and
 * what was decided, one line each. The approvers are mentioned, not the requester (who cannot
 * decide). Beyond Slack's 50 blocks and 12,000 characters, the message shows the riskiest and the
 * rest go to pages in its thread.
 */

const KIND_WORDS = { postcopy: 'switch to post-copy', pause: 'pause the guest to finish' } as const;

export interface ApprovalViewOptions {
  timezone: string;
  /** Who may decide (user ids and user-group ids): mentioned in the message. */
  approvers: readonly string[];
}

/** Riskiest first: post-copy (a link failure loses the guest), then the longest pause, then the largest guest. */
function riskier(a: ApprovalRequest, b: ApprovalRequest): number {
  const kind = (r: ApprovalRequest) => (r.kind === 'postcopy' ? 0 : 1);
  return (
    kind(a) - kind(b) ||
    b.predictedDowntimeMs - a.predictedDowntimeMs ||
    b.remainingBytes - a.remainingBytes ||
    a.id.localeCompare(b.id)
  );
}

/** One waiting request: its facts and its two buttons (2 blocks). */
function pendingBlocks(request: ApprovalRequest, options: ApprovalViewOptions): Block[] {
  const over = request.predictedDowntimeMs > request.downtimeSloMs;
  const early = isEarlyApproval(request.id);
  const covers = request.covers
    ? `\n*Covers* a dirty rate up to ${rate(request.covers.dirtyBytesPerS)} and a downtime up to ${duration(request.covers.downtimeMs)}; worse, ferry asks again`
    : '';
  const expiry = early
    ? `until the evacuation ends, at most until ${time(request.expiresAt, options.timezone)}; undecided, the VM is asked about again when it needs it`
    : `expires ${time(request.expiresAt, options.timezone)}; then ferry aborts and the VM stays on its source`;
  const value = encodePayload({ v: 1, approvalId: request.id });
  const vm = code(request.instance);
  return [
    section(
      `${early ? '🗓️ *Pre-approval*' : '✋ *Needed now*'}: ${KIND_WORDS[request.kind]} for ${vm}\n` +
        `*Predicted downtime* ${duration(request.predictedDowntimeMs)} vs SLO ${duration(request.downtimeSloMs)}` +
        `${over ? ' — *over the SLO*' : ''} · ${bytes(request.remainingBytes)} to copy, dirties ${rate(request.dirtyBytesPerS)}` +
        `, link ${rate(request.bandwidthBytesPerS)}${covers}\n` +
        `*Risk* ${escapeMrkdwn(request.risk)}\n_${expiry}_`,
    ),
    actions(
      `ferry.approval:${request.instance}`.slice(0, 255),
      button(
        'Approve',
        ACTION.approve,
        value,
        'primary',
        confirmDialog(
          `Approve ${request.kind}?`,
          `${KIND_WORDS[request.kind]} for ${vm}: ${escapeMrkdwn(request.risk)}`,
          'Approve',
          'Back',
          'primary',
        ),
      ),
      button(
        'Reject',
        ACTION.reject,
        value,
        'danger',
        confirmDialog(
          `Reject ${request.kind}?`,
          early
            ? `${vm} is asked about again if it needs to switch over`
            : `${vm} is aborted and stays on its source`,
          'Reject',
          'Back',
          'danger',
        ),
      ),
    ),
  ];
}

function allButtons(evacuationId: string, waiting: number): Block {
  const value = encodePayload({ v: 1, evacuationId });
  const what = `all ${waiting} waiting requests of ${code(evacuationId)}`;
  return actions(
    'ferry.approval.all',
    button(
      `Approve all ${waiting}`,
      ACTION.approveAll,
      value,
      'primary',
      confirmDialog('Approve all?', `Approve ${what}`, 'Approve all', 'Back', 'primary'),
    ),
    button(
      'Reject all',
      ACTION.rejectAll,
      value,
      'danger',
      confirmDialog('Reject all?', `Reject ${what}`, 'Reject all', 'Back', 'danger'),
    ),
  );
}

/** Blocks and characters kept free on every page for its header, context, all-buttons and notes. */
const RESERVE = { blocks: 6, chars: 1_500 };

/**
 * The approval message of one evacuation and its thread pages (the first element is the
 * message): riskiest waiting requests first, as many as fit, then the decided lines.
 */
export function approvalPages(
  evacuationId: string,
  views: readonly ApprovalView[],
  options: ApprovalViewOptions,
): Message[] {
  const waiting = views
    .filter((v) => !v.decision)
    .map((v) => v.request)
    .sort(riskier);
  const decided = views.filter((v) => v.decision);
  const requester = views[0]?.request.requestedBy;
  // The requester cannot decide: mentioning them would call the one person who may not act.
  const approvers = mentions(options.approvers.filter((a) => a !== requester));
  const pages: Block[][] = [];
  let rest = waiting;
  do {
    const blocks: Block[] = [];
    let chars = 0;
    let taken = 0;
    for (const request of rest) {
      const next = pendingBlocks(request, options);
      const size = next.reduce((n, b) => n + blockText(b), 0);
      if (
        taken > 0 &&
        (blocks.length + next.length > LIMITS.blocksPerMessage - RESERVE.blocks ||
          chars + size > LIMITS.messageText - RESERVE.chars)
      )
        break;
      blocks.push(...next);
      chars += size;
      taken++;
    }
    pages.push(blocks);
    rest = rest.slice(taken);
  } while (rest.length > 0);

  const title = `Approvals for ${evacuationId}`;
  const lines = decided.map((v) => decisionLine(v.decision!, v.request.instance, options.timezone));
  const first = pages[0]!;
  const blocks: Block[] = [
    header(title),
    context(
      `${approvers || 'Approvers'}: ${plural(waiting.length, 'request')} waiting` +
        (requester ? ` · requested by ${who(requester)}, who cannot decide` : ''),
    ),
    ...(waiting.length > 1 ? [allButtons(evacuationId, waiting.length)] : []),
    ...first,
  ];
  if (pages.length > 1)
    blocks.push(
      context(`${plural(waiting.length - countRequests(first), 'more request')} in this message's thread`),
    );
  const room = LIMITS.blocksPerMessage - blocks.length;
  const used = blocks.reduce((n, b) => n + blockText(b), 0);
  const packed = packLines(lines, Math.max(0, room - 1), LIMITS.messageText - used - 200);
  blocks.push(...packed.blocks);
  if (packed.omitted > 0) blocks.push(context(`… and ${plural(packed.omitted, 'earlier decision')}`));
  const summary = `${title}: ${plural(waiting.length, 'request')} waiting`;
  const fallback = `${approvers} ${escapeMrkdwn(summary)}`.trim();
  return [
    message(fallback, blocks),
    ...pages
      .slice(1)
      .map((page, i) =>
        message(escapeMrkdwn(`${title} (page ${i + 2} of ${pages.length})`), [
          context(`${title}, page ${i + 2} of ${pages.length}`),
          ...page,
        ]),
      ),
  ];
}

function countRequests(blocks: readonly Block[]): number {
  return blocks.filter((b) => b.type === 'actions').length;
}

/** A reminder in the approval message's thread: what still waits, until when. */
export function reminderText(request: ApprovalRequest, options: ApprovalViewOptions, now: number): string {
  const left = duration(Math.max(0, request.expiresAt - now));
  const then = isEarlyApproval(request.id)
    ? 'then it lapses and ferry asks when the VM needs it'
    : 'then ferry aborts it and the VM stays on its source';
  const approvers = mentions(options.approvers.filter((a) => a !== request.requestedBy));
  return `⏰ ${approvers} ${code(request.instance)} still waits for a decision to ${KIND_WORDS[request.kind]}: ${left} left (until ${time(request.expiresAt, options.timezone)}); ${then}`.trim();
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
