/**
 * Asking early: the pre-approvals put to approvers when an evacuation is confirmed, and whether
 * one covers the switchover a running migration needs now. Pure functions of their inputs; the
 * service stores the requests, the policy consults `coverage`, the runner lapses what is left.
 */
import type { PolicyConfig } from '../config.js';
import {
  type ApprovalDecision,
  type ApprovalRequest,
  type EvacuationRequest,
  earlyApprovalId,
  type Move,
  needsSwitchover,
  type Plan,
  POSTCOPY_DOWNTIME_MS,
  prefersPostcopy,
  type SwitchoverKind,
} from '../model.js';
import { formatRate } from '../words.js';

/** What an approver is told a switchover risks (the same words for an early and a live request). */
export function switchoverRisk(kind: SwitchoverKind, downtimeMs: number): string {
  return kind === 'postcopy'
    ? 'post-copy: the guest runs on the destination at once; a network failure before it finishes loses the guest'
    : `pause: the guest is stopped for about ${Math.round(downtimeMs)} ms while the rest is copied`;
}

/** Whether the policy may propose `kind` at all: a pre-approval for something never proposed is noise. */
function allowed(policy: PolicyConfig, kind: SwitchoverKind): boolean {
  return kind === 'postcopy' ? policy.allowPostCopy : policy.allowPause;
}

/**
 * The switchover asked early for `move`: the one its plan needs, or post-copy for a move that
 * converges alone but would send far less post-copied from its start; undefined if none.
 */
function earlyKind(move: Move, policy: PolicyConfig): SwitchoverKind | undefined {
  if (needsSwitchover(move)) {
    const kind = move.prediction.strategy as SwitchoverKind;
    return allowed(policy, kind) ? kind : undefined;
  }
  return prefersPostcopy(move) && policy.allowPostCopy ? 'postcopy' : undefined;
}

/** The instances of `plan` whose switchover is asked early under `policy`, in plan order. */
export function askedEarly(plan: Plan, policy: PolicyConfig): string[] {
  if (!policy.askEarly) return [];
  return plan.moves.filter((m) => earlyKind(m, policy) !== undefined).map((m) => m.instance);
}

/**
 * The pre-approvals for an evacuation being confirmed: one per move the planner predicts will
 * need post-copy or pause, with the plan's facts and what they cover (those facts plus the
 * policy's margin). Each lasts until the evacuation ends, at most `preApprovalMaxS`, and never
 * past the maintenance window.
 */
export function earlyRequests(
  request: Pick<EvacuationRequest, 'id' | 'requestedBy' | 'window'>,
  plan: Plan,
  policy: PolicyConfig,
  now: number,
): ApprovalRequest[] {
  const early = new Set(askedEarly(plan, policy));
  const margin = 1 + policy.preApprovalMarginPct / 100;
  const expiresAt = Math.min(
    now + policy.preApprovalMaxS * 1000,
    request.window?.end ?? Number.POSITIVE_INFINITY,
  );
  return plan.moves
    .filter((m) => early.has(m.instance))
    .map((move) => {
      const kind = earlyKind(move, policy)!;
      // A preferred post-copy's downtime is post-copy's, not that of the pre-copy it replaces.
      const downtimeMs = Math.ceil(needsSwitchover(move) ? move.prediction.downtimeMs : POSTCOPY_DOWNTIME_MS);
      return {
        id: earlyApprovalId(`${request.id}:${move.instance}`),
        evacuationId: request.id,
        migrationId: `${request.id}:${move.instance}`,
        instance: move.instance,
        kind,
        stage: 'early',
        requestedBy: request.requestedBy,
        requestedAt: now,
        expiresAt,
        predictedDowntimeMs: downtimeMs,
        downtimeSloMs: move.downtimeSloMs,
        remainingBytes: move.memoryBytes,
        dirtyBytesPerS: move.dirtyBytesPerS,
        bandwidthBytesPerS: move.prediction.bandwidthBytesPerS,
        risk: needsSwitchover(move)
          ? switchoverRisk(kind, downtimeMs)
          : `${switchoverRisk(kind, downtimeMs)}. Asked to spare the link: its pre-copy would send ${(move.prediction.bytesSent / move.memoryBytes).toFixed(1)}× its memory, post-copy sends it once; rejected, it moves by pre-copy`,
        covers: {
          dirtyBytesPerS: Math.ceil(move.dirtyBytesPerS * margin),
          downtimeMs: Math.ceil(downtimeMs * margin),
        },
      };
    });
}

/** A migration's pre-approval as the policy sees it: the request, and its decision once there is one. */
export interface PreApproval {
  request: ApprovalRequest;
  decision?: ApprovalDecision;
}

/** Whether a pre-approval lets a switchover go ahead now; when not, why (for the live request), if there is more to say than "there is none". */
export type Coverage = { covered: true; why: string } | { covered: false; why?: string };

/**
 * Whether `pre` covers the switchover the policy proposes now: approved by someone, in time, for
 * this kind, and the live facts no worse than it covers. A dirty rate the back end has not
 * measured (0) cannot be shown to be worse, and is said so.
 */
export function coverage(
  pre: PreApproval | undefined,
  proposal: { kind: SwitchoverKind; downtimeMs: number },
  live: { dirtyBytesPerS: number },
  now: number,
): Coverage {
  if (!pre?.decision) return { covered: false };
  const { request, decision } = pre;
  if (decision.outcome === 'rejected')
    return { covered: false, why: `pre-approval rejected by ${decision.decidedBy}` };
  if (decision.outcome === 'expired') return { covered: false, why: 'the pre-approval lapsed undecided' };
  // Never a decision recorded at or after the expiry (expiry wins a tie), nor one past its life.
  if (decision.decidedAt >= request.expiresAt || now >= request.expiresAt)
    return { covered: false, why: 'the pre-approval has expired' };
  const covers = request.covers;
  if (!covers) return { covered: false };
  if (proposal.kind !== request.kind)
    return { covered: false, why: `pre-approved for ${request.kind}, but ${proposal.kind} is needed now` };
  if (live.dirtyBytesPerS > covers.dirtyBytesPerS)
    return {
      covered: false,
      why: `dirties ${formatRate(live.dirtyBytesPerS)} now, more than the ${formatRate(covers.dirtyBytesPerS)} pre-approved`,
    };
  if (proposal.downtimeMs > covers.downtimeMs)
    return {
      covered: false,
      why: `predicted downtime ${proposal.downtimeMs} ms, more than the ${covers.downtimeMs} ms pre-approved`,
    };
  const unmeasured = live.dirtyBytesPerS > 0 ? '' : ' (dirty rate not measured yet)';
  return { covered: true, why: `pre-approved by ${decision.decidedBy}${unmeasured}` };
}

/**
 * Whether `pre` covers a post-copy from the start, during the first pass: `coverage` (approved,
 * in time, this kind, the dirty rate no worse where measured) and no longer at risk than the facts
 * approved: what is left (never more than the memory) over the live bandwidth takes at most the
 * approved remaining over the approved bandwidth, plus the policy's margin. A post-copy sends
 * each page once from then on, so no dirty rate makes it send more.
 */
export function earlyCoverage(
  pre: PreApproval | undefined,
  live: { remainingBytes: number; bandwidthBytesPerS: number; dirtyBytesPerS: number; memoryBytes: number },
  marginPct: number,
  now: number,
): Coverage {
  const covered = coverage(pre, { kind: 'postcopy', downtimeMs: POSTCOPY_DOWNTIME_MS }, live, now);
  if (!covered.covered || !pre) return covered;
  const { request } = pre;
  if (!(live.bandwidthBytesPerS > 0) || !(request.bandwidthBytesPerS > 0))
    return { covered: false, why: 'no bandwidth measured yet' };
  const windowS = Math.min(live.remainingBytes, live.memoryBytes) / live.bandwidthBytesPerS;
  const approvedS = ((request.remainingBytes / request.bandwidthBytesPerS) * (100 + marginPct)) / 100;
  if (windowS > approvedS)
    return {
      covered: false,
      why: `post-copy would take ${Math.ceil(windowS)} s at ${formatRate(live.bandwidthBytesPerS)}, longer than the ${Math.ceil(approvedS)} s pre-approved`,
    };
  return covered;
}
