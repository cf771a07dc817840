import type { PolicyConfig } from '../config.js';
import { AUTO_CONVERGE, POSTCOPY_DOWNTIME_MS, type Prediction, type Strategy } from '../model.js';
import { chunkBytes, fitsThreshold, passBytes } from '../precopy.js';
import { formatRate } from '../words.js';

/**
 * The pre-copy model of DESIGN.md, run the way QEMU runs it (migration_iteration_run and
 * ram.c). QEMU sends the dirty bitmap in chunks and, after each chunk, compares what is pending
 * with the threshold, measured bandwidth × downtime limit. Only once the bitmap's remainder
 * falls under the threshold does it sync the bitmap (one dirty sync), adding what the guest
 * dirtied since the last sync; if the sum still fits, it stops the guest and copies the rest with
 * its own rate limit lifted. So a pass ends a chunk's width below the threshold, not at zero, and
 * the final copy runs at the path's rate, not at `max-bandwidth`. Pure: the planner, the bench,
 * the simulator's agreement tests and the policy's escalation facts all reason with it.
 */

export interface PrecopyInput {
  memoryBytes: number;
  dirtyBytesPerS: number;
  bandwidthBytesPerS: number;
  downtimeLimitMs: number;
  /**
   * The rate of the final copy, bytes/s: QEMU lifts its own `max-bandwidth` at the switchover, so
   * only the path (NIC, link, migration thread) limits it. Defaults to `bandwidthBytesPerS`, the
   * case where the path, not a cap, is what limits the migration.
   */
  switchoverBytesPerS?: number;
  /** Passes after which a migration that has not switched over is declared non-converging. */
  maxPasses?: number;
}

/** QEMU has no pass limit; past this many passes a migration is not going to converge usefully. */
export const DEFAULT_MAX_PASSES = 30;

/**
 * A migration that sends more than this many times the guest's memory holds its share of the
 * source's link for the whole drain: auto-converge is chosen only below it, and a pre-copy above
 * it is flagged as better post-copied from the start (Prediction.postcopySavesBytes), where a
 * human may approve that.
 */
export const LINK_HOG_VOLUME = 2;

interface PassResult {
  converges: boolean;
  /** QEMU's dirty-sync-count at the end: setup, each pass's sync, and the final copy's. */
  passes: number;
  bytesSent: number;
  /** Time spent copying while the guest ran, ms. */
  liveMs: number;
  /** What was left when the guest stopped (or when the model gave up). */
  remainingBytes: number;
}

/**
 * Runs QEMU's loop pass by pass; `dirtyRate(pass)` lets auto-converge lower the rate pass by
 * pass. A zero bandwidth never converges (and never divides by zero).
 */
function runPasses(input: PrecopyInput, dirtyRate: (pass: number) => number): PassResult {
  const { memoryBytes: m, bandwidthBytesPerS: r } = input;
  const maxPasses = input.maxPasses ?? DEFAULT_MAX_PASSES;
  if (r <= 0) return { converges: false, passes: 1, bytesSent: 0, liveMs: 0, remainingBytes: m };
  const threshold = r * (input.downtimeLimitMs / 1000);
  const chunk = chunkBytes(r, input.switchoverBytesPerS);
  // The bitmap starts with every page dirty (the setup sync).
  let bitmap = m;
  let syncs = 1;
  let bytesSent = 0;
  let liveMs = 0;
  for (let pass = 0; pass < maxPasses; pass++) {
    const sent = passBytes(bitmap, threshold, chunk);
    const seconds = sent / r;
    bytesSent += sent;
    liveMs += seconds * 1000;
    const pending = Math.min(m, bitmap - sent + dirtyRate(pass) * seconds);
    syncs += 1;
    if (fitsThreshold(pending, threshold))
      return {
        converges: true,
        passes: syncs + 1,
        bytesSent: bytesSent + pending,
        liveMs,
        remainingBytes: pending,
      };
    bitmap = pending;
  }
  return { converges: false, passes: syncs, bytesSent, liveMs, remainingBytes: bitmap };
}

function toPrediction(
  input: PrecopyInput,
  result: PassResult,
  strategy: Strategy,
  note?: string,
): Prediction {
  const r = input.bandwidthBytesPerS;
  // Converged: the final copy at the path's rate. Not converging: what pausing the guest now
  // would cost, copied at the capped rate (a paused guest's migration keeps its cap).
  const stopRate = result.converges ? (input.switchoverBytesPerS ?? r) : r;
  const downtimeMs = stopRate > 0 ? (result.remainingBytes / stopRate) * 1000 : Number.POSITIVE_INFINITY;
  return {
    converges: result.converges,
    strategy,
    passes: result.passes,
    bytesSent: result.bytesSent,
    durationMs: result.liveMs + (result.converges ? downtimeMs : 0),
    downtimeMs,
    bandwidthBytesPerS: r,
    note,
  };
}

/** Plain pre-copy at a fixed downtime limit. */
export function predictPrecopy(input: PrecopyInput): Prediction {
  const result = runPasses(input, () => input.dirtyBytesPerS);
  return toPrediction(input, result, 'precopy');
}

/**
 * Pre-copy with QEMU's auto-converge: whenever a pass dirties more than half of what it sent,
 * the guest's vCPUs are throttled harder (20 %, then +10 % steps up to 99 %), which scales the
 * dirty rate down by the throttle.
 */
export function predictAutoConverge(input: PrecopyInput): Prediction {
  let throttlePct = 0;
  let lastPass = -1;
  const result = runPasses(input, (pass) => {
    if (pass !== lastPass) {
      lastPass = pass;
      // The trigger is evaluated on the pass that just ended (QEMU: dirty > 50 % of transferred).
      if (pass > 0 && input.dirtyBytesPerS * (1 - throttlePct / 100) > input.bandwidthBytesPerS / 2) {
        throttlePct =
          throttlePct === 0
            ? AUTO_CONVERGE.initialPct
            : Math.min(AUTO_CONVERGE.maxPct, throttlePct + AUTO_CONVERGE.incrementPct);
      }
    }
    return input.dirtyBytesPerS * (1 - throttlePct / 100);
  });
  const note = throttlePct > 0 ? `guest CPU throttled up to ${throttlePct} % while it converges` : undefined;
  return toPrediction(input, result, 'auto-converge', note);
}

/** What the guest dirtied during one full pass: what a switchover after it still has to move. */
function afterFirstPass(input: PrecopyInput): { firstPassS: number; left: number } {
  const firstPassS = input.memoryBytes / input.bandwidthBytesPerS;
  return { firstPassS, left: Math.min(input.memoryBytes, input.dirtyBytesPerS * firstPassS) };
}

/**
 * Post-copy after one full pass: the guest runs on the destination at once (a few ms of
 * downtime) and pulls what it dirtied on demand, QEMU's rate limit lifted. Dirty syncs: setup,
 * the first pass's, and the one that sends the discard bitmap.
 */
export function predictPostcopy(input: PrecopyInput): Prediction {
  const { memoryBytes: m, bandwidthBytesPerS: r } = input;
  if (r <= 0) return predictPrecopy(input);
  const { firstPassS, left } = afterFirstPass(input);
  return {
    converges: true,
    strategy: 'postcopy',
    passes: 3,
    bytesSent: m + left,
    durationMs: (firstPassS + left / (input.switchoverBytesPerS ?? r)) * 1000 + POSTCOPY_DOWNTIME_MS,
    downtimeMs: POSTCOPY_DOWNTIME_MS,
    bandwidthBytesPerS: r,
    note: 'a link failure during post-copy loses the guest',
  };
}

/**
 * Pause (force-complete) after one full pass: the guest stops and the rest is copied while it
 * is paused, still under the migration's cap, so downtime = remaining / bandwidth. Dirty syncs:
 * setup, the first pass's and the final copy's.
 */
export function predictPause(input: PrecopyInput): Prediction {
  const { memoryBytes: m, bandwidthBytesPerS: r } = input;
  if (r <= 0) return predictPrecopy(input);
  const { firstPassS, left } = afterFirstPass(input);
  const downtimeMs = (left / r) * 1000;
  return {
    converges: true,
    strategy: 'pause',
    passes: 3,
    bytesSent: m + left,
    durationMs: firstPassS * 1000 + downtimeMs,
    downtimeMs,
    bandwidthBytesPerS: r,
    note: `the guest is paused for about ${formatSeconds(downtimeMs)}`,
  };
}

export interface MoveFacts {
  memoryBytes: number;
  dirtyBytesPerS: number;
  bandwidthBytesPerS: number;
  downtimeSloMs: number;
}

/**
 * The cheapest safe way to move a VM at the bandwidth it will get: plain pre-copy within the
 * SLO, else auto-converge (if allowed), else a risky switchover that needs an approver
 * (post-copy preferred for its tiny downtime, else pause). A prediction with `converges: false`
 * means nothing allowed can move it within the SLO.
 */
export function predictMove(
  facts: MoveFacts,
  policy: Pick<PolicyConfig, 'allowAutoConverge' | 'allowPostCopy' | 'allowPause'>,
): Prediction {
  const input: PrecopyInput = { ...facts, downtimeLimitMs: facts.downtimeSloMs };
  const precopy = predictPrecopy(input);
  if (precopy.converges) {
    const saves = precopy.bytesSent - facts.memoryBytes;
    if (!policy.allowPostCopy || precopy.bytesSent <= LINK_HOG_VOLUME * facts.memoryBytes) return precopy;
    const note = `pre-copy sends ${(precopy.bytesSent / facts.memoryBytes).toFixed(1)}× its memory; post-copy from the start, if approved, sends it once`;
    return { ...precopy, note, postcopySavesBytes: saves };
  }
  const why = nonConvergenceReason(facts);
  if (policy.allowAutoConverge) {
    const throttled = predictAutoConverge(input);
    // Auto-converge that only gets there at the 99 % ceiling is a guest frozen in all but name;
    // one that sends many times the memory holds the link for the whole drain: where a human may
    // approve a switchover instead, ask them.
    const humanMayHelp = policy.allowPostCopy || policy.allowPause;
    const volumeOk = throttled.bytesSent <= LINK_HOG_VOLUME * facts.memoryBytes || !humanMayHelp;
    if (throttled.converges && throttled.passes < DEFAULT_MAX_PASSES && volumeOk)
      return { ...throttled, note: [why, throttled.note].filter(Boolean).join('; ') };
  }
  if (policy.allowPostCopy)
    return { ...predictPostcopy(input), note: `${why}; needs approval for post-copy` };
  if (policy.allowPause) {
    const pause = predictPause(input);
    return { ...pause, note: `${why}; needs approval to pause (${pause.note})` };
  }
  return { ...precopy, note: `${why}; no allowed strategy converges` };
}

/**
 * The bandwidth a VM needs to converge within its SLO by plain pre-copy, with the policy's
 * margin on top of its dirty rate: the admission test of the scheduler.
 */
export function bandwidthToConverge(facts: Omit<MoveFacts, 'bandwidthBytesPerS'>, margin: number): number {
  return Math.max(facts.dirtyBytesPerS * margin, 1);
}

function nonConvergenceReason(facts: MoveFacts): string {
  if (facts.dirtyBytesPerS >= facts.bandwidthBytesPerS)
    return `dirties ${formatRate(facts.dirtyBytesPerS)}, more than the ${formatRate(facts.bandwidthBytesPerS)} it can get`;
  return `cannot fit the last pass in ${facts.downtimeSloMs} ms at ${formatRate(facts.bandwidthBytesPerS)}`;
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
