/**
 * The runtime policy for one running migration: from its progress samples it ramps the downtime
 * limit, switches auto-converge on, detects stalls and completion timeouts, and escalates to a
 * human for the risky switchovers (post-copy, pause) or aborts. A pure function of its inputs:
 * the runner stores the returned WatchState, so watching resumes after a crash and replays give
 * the same answers (approval ids included).
 */
import type { PolicyConfig } from '../config.js';
import type { Driver } from '../drivers/driver.js';
import type {
  ApprovalDecision,
  MigrationStatus,
  ProgressSample,
  Strategy,
  SwitchoverKind,
  Tuning,
} from '../model.js';
import { GiB, POSTCOPY_DOWNTIME_MS } from '../model.js';
import { multifdPolicy } from '../planning/multifd.js';
import type { WatchState } from '../ports.js';
import { formatBytes, formatRate } from '../words.js';
import { coverage, earlyCoverage, type PreApproval } from './early.js';

/** What the policy knows about the migration it watches. */
export interface WatchedMigration {
  /** `${evacuationId}:${instance}` */
  id: string;
  instance: string;
  memoryBytes: number;
  /** The instance's SLO, already resolved from the instance override or the policy. */
  downtimeSloMs: number;
  /** How the planner expects it to finish (the convergence model's cheapest safe strategy). */
  plannedStrategy?: Strategy;
  /** The back end takes no risky switchover for it (why): never ask anyone for one. */
  switchoverRefused?: string;
  /** Multifd channels it runs with (absent: one stream); with more than one, no post-copy. */
  channels?: number;
  /** It converges alone, but post-copied from its start it sends far less (Prediction.postcopySavesBytes). */
  postcopyPreferred?: boolean;
}

export type PolicyAction =
  | { kind: 'tune'; downtimeLimitMs?: number; autoConverge?: boolean; why: string }
  | {
      kind: 'escalate';
      switchover: SwitchoverKind;
      approvalId: string;
      expiresAt: number;
      predictedDowntimeMs: number;
      why: string;
    }
  /** Only ever after an 'approved' decision: a live one, or a pre-approval that covers the live facts. */
  | { kind: 'switchover'; switchover: SwitchoverKind; why: string }
  /** A pre-approval still undecided when its move needs it gives way to the live request: record its lapse. */
  | { kind: 'lapse'; approvalId: string; why: string }
  /** Post-copy stopped making progress: raise it to people (nothing can abort it). */
  | { kind: 'postcopy-stalled'; remainingBytes: number; stalledForMs: number; why: string }
  | { kind: 'abort'; why: string };

export interface PolicyStep {
  watch: WatchState;
  actions: PolicyAction[];
}

/** A new low of remaining bytes must beat the previous one by this fraction to count as progress. */
export const STALL_MARGIN = 0.01;
/** A tiny guest still gets one GiB's worth of completion time (setup and the first pass take time). */
const MIN_TIMEOUT_GIB = 1;

const FINAL: readonly MigrationStatus[] = ['completed', 'failed', 'cancelled'];
/** The switchover is already under way: nothing left to tune or ask. */
const SWITCHING: readonly MigrationStatus[] = ['device', 'postcopy-active'];

/**
 * Downtime limits from policy.downtimeRampStartMs up to the instance's SLO, in
 * policy.downtimeRampSteps evenly spaced values (Nova: 50, 100, ... 500 ms). Never above the SLO;
 * a start at or above the SLO, or a single step, gives just the SLO. Rounding duplicates are dropped.
 */
export function downtimeRamp(policy: PolicyConfig, sloMs: number): number[] {
  const start = Math.min(policy.downtimeRampStartMs, sloMs);
  const steps = Math.max(1, Math.floor(policy.downtimeRampSteps));
  if (steps === 1 || start >= sloMs) return [sloMs];
  const ramp: number[] = [];
  for (let i = 0; i < steps; i++) {
    const value = Math.min(sloMs, Math.round(start + ((sloMs - start) * i) / (steps - 1)));
    if (ramp[ramp.length - 1] !== value) ramp.push(value);
  }
  return ramp;
}

/**
 * The policy as a driver can carry it out: what the back end lacks is not planned for or
 * claimed (Nova cannot switch auto-converge on for one migration).
 */
export function policyForDriver(policy: PolicyConfig, driver: Pick<Driver, 'lacks'>): PolicyConfig {
  let fit = policy;
  if (driver.lacks?.autoConverge) fit = { ...fit, allowAutoConverge: false };
  if (driver.lacks?.multifd && fit.multifdChannels > 1) fit = { ...fit, multifdChannels: 1 };
  return fit;
}

/** The watcher's state when a migration starts. */
export function initialWatch(policy: PolicyConfig, m: WatchedMigration, now: number): WatchState {
  return {
    startedAt: now,
    rampStep: 0,
    lastRampAt: now,
    downtimeLimitMs: downtimeRamp(policy, m.downtimeSloMs)[0]!,
    autoConverge: false,
    // The whole memory is left to send: the first 1 % of progress is the first new low.
    bestRemainingBytes: positive(m.memoryBytes),
    bestRemainingAt: now,
    approvalsAsked: 0,
  };
}

/**
 * The knobs a migration starts with: the ramp's first downtime limit, auto-converge off (the
 * policy turns it on when needed), the post-copy capability exactly when the policy may
 * propose post-copy (QEMU needs it set before the start), and the move's multifd channels
 * (never together with post-copy, which QEMU 10 refuses).
 */
export function initialTuning(
  policy: PolicyConfig,
  m: WatchedMigration,
  maxBandwidthBytesPerS?: number,
): Tuning {
  const multifd = (m.channels ?? 1) > 1;
  return {
    downtimeLimitMs: downtimeRamp(policy, m.downtimeSloMs)[0]!,
    maxBandwidthBytesPerS,
    autoConverge: false,
    postcopyCapable: policy.allowPostCopy && !multifd,
    ...(multifd && { multifdChannels: m.channels }),
  };
}

/** The policy's decisions after one progress sample. */
export function decide(input: {
  policy: PolicyConfig;
  migration: WatchedMigration;
  watch: WatchState;
  sample: ProgressSample;
  now: number;
  decision?: ApprovalDecision;
  /** The migration's pre-approval, if it was asked early and not yet spent (see early.ts). */
  preApproval?: PreApproval;
}): PolicyStep {
  const { migration: m, sample, now, decision } = input;
  // A multifd migration started without post-copy's capability: propose a pause instead.
  const policy = multifdPolicy(input.policy, m.channels);
  const watch: WatchState = { ...input.watch };
  const stay: PolicyStep = { watch: input.watch, actions: [] };

  // The runner records completed/failed/cancelled itself, pending approval or not.
  if (FINAL.includes(sample.status)) return stay;
  if (watch.switchedOver === 'postcopy' && sample.status === 'postcopy-active')
    return watchPostcopy(policy, input.watch, sample, now);
  // After a switchover only completion (or failure) is left: no ramp, no second escalation.
  if (watch.switchedOver) return stay;

  const pending = watch.escalation;
  if (pending && decision && decision.approvalId === pending.approvalId) {
    if (decision.outcome === 'approved') {
      watch.switchedOver = pending.kind;
      const why = `${pending.kind} approved by ${decision.decidedBy}`;
      return { watch, actions: [{ kind: 'switchover', switchover: pending.kind, why }] };
    }
    // Rejected or expired: the safe action, the guest stays running on the source.
    const why =
      decision.outcome === 'rejected'
        ? `${pending.kind} rejected by ${decision.decidedBy}: abort, the VM stays on the source`
        : 'approval expired: the safe action';
    return { watch: input.watch, actions: [{ kind: 'abort', why }] };
  }
  if (pending && now >= pending.expiresAt) {
    return { watch: input.watch, actions: [{ kind: 'abort', why: 'approval expired: the safe action' }] };
  }
  if (SWITCHING.includes(sample.status)) return stay;

  const stallMs = policy.stallTimeoutS * 1000;
  const timeoutMs = completionTimeoutMs(policy, m.memoryBytes);
  const timedOut = now - watch.startedAt >= timeoutMs;

  if (sample.status === 'setup') {
    // Nothing is transferring yet: the stall clock starts when pages move, but a migration
    // that never gets out of setup still hits the completion timeout. Nothing to switch over.
    watch.bestRemainingAt = now;
    if (timedOut) {
      const why = `still setting up after ${seconds(now - watch.startedAt)} s (completion timeout ${seconds(timeoutMs)} s)`;
      return { watch: input.watch, actions: [{ kind: 'abort', why }] };
    }
    return { watch, actions: [] };
  }

  const actions: PolicyAction[] = [];
  const remaining = positive(sample.remainingBytes);
  const bandwidth = positive(sample.bandwidthBytesPerS);
  const dirty = positive(sample.dirtyBytesPerS);

  // Stall detection. During the first pass, remaining falls as memory is sent: any new low is
  // progress. After it, QEMU's remaining drops towards zero within every pass and jumps back at
  // the next dirty sync, so only the remaining at the start of each pass says whether passes
  // shrink. A zero reading (nothing measured yet) is not a low, or nothing could ever beat it.
  const iteration = sample.iteration;
  const previous = watch.lastIteration ?? 0;
  const passStart = iteration > previous;
  if (passStart) watch.lastIteration = iteration;
  if (passStart && iteration >= 2 && previous <= 1 && remaining > 0) {
    // The first pass is over: from here on, pass starts are compared with each other.
    watch.bestRemainingBytes = remaining;
    watch.bestRemainingAt = now;
  } else if (
    (iteration <= 1 || passStart) &&
    remaining > 0 &&
    remaining < watch.bestRemainingBytes * (1 - STALL_MARGIN)
  ) {
    watch.bestRemainingBytes = remaining;
    watch.bestRemainingAt = now;
  }
  // Auto-converge still tightening its throttle is progress too: a guest that dirties its whole
  // memory every pass shows no smaller pass until the throttle bites.
  const throttle = sample.throttlePct ?? 0;
  if (throttle > (watch.lastThrottlePct ?? 0)) {
    watch.lastThrottlePct = throttle;
    watch.bestRemainingAt = now;
  }
  const stalled = now - watch.bestRemainingAt >= stallMs;

  // Downtime ramp: one step per downtimeRampStepS without completion. After a gap (a restart)
  // jump over the missed steps at once, keeping the cadence anchored to the first step.
  const ramp = downtimeRamp(policy, m.downtimeSloMs);
  const last = ramp.length - 1;
  const stepMs = policy.downtimeRampStepS * 1000;
  if (watch.rampStep < last) {
    const due = Math.floor((now - watch.lastRampAt) / stepMs);
    if (due > 0) {
      watch.rampStep = Math.min(last, watch.rampStep + due);
      watch.lastRampAt += due * stepMs;
      watch.downtimeLimitMs = ramp[watch.rampStep]!;
      actions.push({
        kind: 'tune',
        downtimeLimitMs: watch.downtimeLimitMs,
        why: `raise downtime limit to ${watch.downtimeLimitMs} ms (step ${watch.rampStep + 1}/${ramp.length})`,
      });
    }
  }

  // While a human decides, the migration keeps running (and ramping): nothing else to do.
  if (pending) return { watch, actions };

  // A pre-approved post-copy is best done as soon as pages flow: post-copy sends each page once,
  // while every second of pre-copy first sends pages the guest dirties again (a heavy writer
  // resends up to its whole memory after one pass). The approver was shown the whole memory as
  // what is left, so the switch is within the facts approved; without a usable pre-approval the
  // move waits for the end of its first pass as before, and nobody is asked any earlier.
  const early = earlyPostcopy(policy, m, input.preApproval, watch, sample, now);
  if (early) {
    watch.preApprovalSpent = true;
    watch.switchedOver = 'postcopy';
    return { watch, actions: [...actions, { kind: 'switchover', switchover: 'postcopy', why: early }] };
  }

  // The planner already found that only a risky switchover moves this VM within its SLO: once
  // the first pass is done (the guest's memory is across), ask at once instead of waiting for a
  // stall, and do not slow the guest with auto-converge first.
  const plannedRisky =
    (m.plannedStrategy === 'postcopy' || m.plannedStrategy === 'pause') && m.switchoverRefused === undefined;
  const predicted =
    plannedRisky && sample.iteration >= 2 && watch.approvalsAsked === 0
      ? `predicted not to converge within its ${m.downtimeSloMs} ms SLO by pre-copy or auto-converge`
      : undefined;
  let trouble = stalled
    ? `stalled: remaining ${formatBytes(watch.bestRemainingBytes, 'fixed')} has not fallen for ${seconds(now - watch.bestRemainingAt)} s`
    : timedOut
      ? `completion timeout: running ${seconds(now - watch.startedAt)} s, limit ${seconds(timeoutMs)} s for ${formatBytes(m.memoryBytes, 'fixed')}`
      : predicted;

  // Auto-converge throttles the guest but keeps it running: the policy may switch it on alone.
  // A move planned for auto-converge gets it as soon as its first pass is done.
  if (policy.allowAutoConverge && !watch.autoConverge && !predicted) {
    const plannedAc =
      m.plannedStrategy === 'auto-converge' && sample.iteration >= 2
        ? 'planned: it cannot converge by pre-copy alone'
        : undefined;
    const why =
      plannedAc ??
      notConverging({
        trouble,
        dirty,
        bandwidth,
        remaining,
        sample,
        rampExhausted: watch.rampStep >= last,
        sloMs: m.downtimeSloMs,
      });
    if (why) {
      watch.autoConverge = true;
      watch.autoConvergeAt = now;
      actions.push({ kind: 'tune', autoConverge: true, why: `enable auto-converge: ${why}` });
      return { watch, actions };
    }
  }

  if (!trouble) return { watch, actions };
  // Auto-converge gets one stall period to work before anyone is asked for a risky switchover.
  if (watch.autoConvergeAt !== undefined && now - watch.autoConvergeAt < stallMs) return { watch, actions };

  const proposal: ReturnType<typeof propose> =
    m.switchoverRefused !== undefined
      ? { refused: `no switchover possible (${m.switchoverRefused}): abort` }
      : propose(policy, remaining, bandwidth, sample.expectedDowntimeMs);
  if ('refused' in proposal) {
    // Nova's and KubeVirt's behaviour: abort on completion/progress timeout, the VM stays put.
    return { watch: input.watch, actions: [{ kind: 'abort', why: `${trouble}; ${proposal.refused}` }] };
  }
  // A pre-approval is weighed once, at the first moment a switchover is needed: it goes ahead
  // without waiting for anyone if it covers the live facts; otherwise the live path asks now.
  const pre = watch.preApprovalSpent ? undefined : input.preApproval;
  if (pre) {
    watch.preApprovalSpent = true;
    const early = coverage(pre, proposal, { dirtyBytesPerS: dirty }, now);
    if (early.covered) {
      watch.switchedOver = proposal.kind;
      return {
        watch,
        actions: [
          ...actions,
          { kind: 'switchover', switchover: proposal.kind, why: `${trouble}; ${early.why}` },
        ],
      };
    }
    if (!pre.decision)
      actions.push({
        kind: 'lapse',
        approvalId: pre.request.id,
        why: 'needed before anyone decided: asked again now',
      });
    if (early.why) trouble = `${trouble}; ${early.why}`;
  }
  // Deterministic ids: a replay from the stored WatchState asks for the same approval again.
  watch.approvalsAsked += 1;
  const approvalId = `${m.id}:approval-${watch.approvalsAsked}`;
  const expiresAt = now + policy.approvalTimeoutS * 1000;
  watch.escalation = { approvalId, kind: proposal.kind, requestedAt: now, expiresAt };
  actions.push({
    kind: 'escalate',
    switchover: proposal.kind,
    approvalId,
    expiresAt,
    predictedDowntimeMs: proposal.downtimeMs,
    why: `${trouble}; ask to ${proposal.kind === 'postcopy' ? 'switch to post-copy' : 'pause the guest'} (downtime ~${proposal.downtimeMs} ms)`,
  });
  return { watch, actions };
}

/**
 * Why a post-copy switches over now, during its first pass: one planned (needed, or preferred to
 * save the link), moving pages, and covered by its pre-approval (earlyCoverage). Undefined
 * otherwise: a needed one keeps the ordinary moment after its first pass (its own coverage check
 * and lapse), a preferred one runs on as pre-copy.
 */
function earlyPostcopy(
  policy: PolicyConfig,
  m: WatchedMigration,
  pre: PreApproval | undefined,
  watch: WatchState,
  sample: ProgressSample,
  now: number,
): string | undefined {
  // A multifd migration has no post-copy (multifdPolicy turned it off): nothing to switch to.
  if (!policy.allowPostCopy) return undefined;
  if ((m.plannedStrategy !== 'postcopy' && !m.postcopyPreferred) || m.switchoverRefused !== undefined)
    return undefined;
  if (!pre || watch.preApprovalSpent || watch.approvalsAsked > 0 || sample.iteration > 1) return undefined;
  if (!(sample.transferredBytes > 0)) return undefined;
  const live = {
    remainingBytes: positive(sample.remainingBytes),
    bandwidthBytesPerS: positive(sample.bandwidthBytesPerS),
    dirtyBytesPerS: positive(sample.dirtyBytesPerS),
    memoryBytes: m.memoryBytes,
  };
  const early = earlyCoverage(pre, live, policy.preApprovalMarginPct, now);
  return early.covered ? `post-copy from the first pass (each page sent once); ${early.why}` : undefined;
}

/** policy.completionTimeoutSPerGiB per GiB of guest memory (at least one GiB's worth). */
export function completionTimeoutMs(policy: PolicyConfig, memoryBytes: number): number {
  return policy.completionTimeoutSPerGiB * 1000 * Math.max(MIN_TIMEOUT_GIB, positive(memoryBytes) / GiB);
}

/** Why the migration is not converging by itself, or undefined if it may still. */
function notConverging(f: {
  trouble: string | undefined;
  dirty: number;
  bandwidth: number;
  remaining: number;
  sample: ProgressSample;
  rampExhausted: boolean;
  sloMs: number;
}): string | undefined {
  // Both rates must be measured: 0 means "not yet", not "infinitely fast".
  if (f.dirty > 0 && f.bandwidth > 0 && f.dirty >= f.bandwidth)
    return `dirties ${formatRate(f.dirty)}, at least the ${formatRate(f.bandwidth)} it sends`;
  if (f.trouble) return f.trouble;
  // During the first pass "remaining" is most of the memory by definition: judge only after it.
  if (f.rampExhausted && f.sample.iteration >= 2) {
    const expected = expectedDowntimeMs(f.remaining, f.bandwidth, f.sample.expectedDowntimeMs);
    if (expected !== undefined && expected > f.sloMs)
      return `expected downtime ${expected} ms is over the ${f.sloMs} ms SLO at the end of the ramp`;
  }
  return undefined;
}

/**
 * Post-copy cannot be aborted: the guest runs on the destination and its missing pages are on the
 * source. One that makes no progress (no new low of remaining bytes for stallTimeoutS: a broken
 * link, a stuck source) is raised once, and again if it moves and then stalls anew; it is never
 * left to look frozen. Its state stays `switching-over` until it ends.
 */
function watchPostcopy(
  policy: PolicyConfig,
  current: WatchState,
  sample: ProgressSample,
  now: number,
): PolicyStep {
  const remaining = positive(sample.remainingBytes);
  const seen = current.postcopy;
  if (!seen || (remaining > 0 && remaining < seen.bestRemainingBytes * (1 - STALL_MARGIN)))
    return {
      watch: { ...current, postcopy: { bestRemainingBytes: remaining || Number.MAX_VALUE, bestAt: now } },
      actions: [],
    };
  const stalledForMs = now - seen.bestAt;
  if (seen.alertedAt !== undefined || stalledForMs < policy.stallTimeoutS * 1000)
    return { watch: current, actions: [] };
  return {
    watch: { ...current, postcopy: { ...seen, alertedAt: now } },
    actions: [
      {
        kind: 'postcopy-stalled',
        remainingBytes: remaining,
        stalledForMs,
        why: `post-copy has made no progress for ${seconds(stalledForMs)} s: ${formatBytes(remaining, 'fixed')} still on the source`,
      },
    ],
  };
}

/** The risky switchover to ask for: post-copy preferred, then pause; or why neither can be. */
function propose(
  policy: PolicyConfig,
  remaining: number,
  bandwidth: number,
  reported: number | undefined,
): { kind: SwitchoverKind; downtimeMs: number } | { refused: string } {
  if (policy.allowPostCopy) return { kind: 'postcopy', downtimeMs: POSTCOPY_DOWNTIME_MS };
  if (!policy.allowPause) return { refused: 'neither post-copy nor pause is allowed: abort' };
  const downtimeMs = expectedDowntimeMs(remaining, bandwidth, reported);
  // Nobody can sign off an unbounded pause; no bandwidth at all means the link is down anyway.
  if (downtimeMs === undefined) return { refused: 'no bandwidth measured to predict a pause: abort' };
  return { kind: 'pause', downtimeMs };
}

/** Downtime of a switchover now: remaining / bandwidth, or the driver's own estimate without a bandwidth. */
function expectedDowntimeMs(
  remaining: number,
  bandwidth: number,
  reported: number | undefined,
): number | undefined {
  if (bandwidth > 0) return Math.ceil((remaining * 1000) / bandwidth);
  const r = positive(reported ?? 0);
  return r > 0 ? Math.ceil(r) : undefined;
}

/** Finite and positive, else 0: drivers report 0 (or garbage) before they have measured. */
function positive(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

function seconds(ms: number): string {
  return String(Math.round(ms / 1000));
}
