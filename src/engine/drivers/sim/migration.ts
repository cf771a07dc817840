import { ConflictError, DriverRefusedError } from '../../errors.js';
import type { MigrationStatus, ProgressSample, Tuning } from '../../model.js';
import { AUTO_CONVERGE, POSTCOPY_DOWNTIME_MS } from '../../model.js';
import { chunkBytes, fitsThreshold, passBytes } from '../../precopy.js';

/**
 * One simulated live migration: QEMU's pre-copy loop (src/engine/precopy.ts), integrated
 * exactly over spans of constant bandwidth. The fleet sets `rateBytesPerS` (its fair share),
 * asks how long until the next event, advances every stream by the same span and lets the ones
 * whose event is due react. Nothing here reads a clock.
 */

/** Where a simulated migration is in its life. */
export type SimPhase =
  /** Passes while the guest runs (and dirties memory) on the source. */
  | 'precopy'
  /** The guest is stopped for the final copy of what the last pass dirtied: downtime. */
  | 'switchover'
  /** ferry paused the guest (force-complete): the rest is copied while it is stopped. */
  | 'paused'
  /** The guest runs on the destination and pulls the rest at the stream's rate. */
  | 'postcopy'
  | 'completed'
  | 'failed'
  | 'cancelled';

const MOVING: ReadonlySet<SimPhase> = new Set(['precopy', 'switchover', 'paused', 'postcopy']);

/** Phases in which the guest still runs from the source's memory (a link drop leaves it there). */
export const SOURCE_PHASES: ReadonlySet<SimPhase> = new Set(['precopy', 'switchover', 'paused']);

/** An event due within this many ms of the end of a span is reached at its end (float slack). */
const EVENT_SLACK_MS = 1e-6;

const STATUS: Record<SimPhase, MigrationStatus> = {
  precopy: 'active',
  switchover: 'device',
  paused: 'active',
  postcopy: 'postcopy-active',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
};

export interface SimMigrationInit {
  id: string;
  instance: string;
  from: string;
  to: string;
  memoryBytes: number;
  /** The guest's dirty rate before jitter and throttling, bytes/s. */
  dirtyBytesPerS: number;
  tuning: Tuning;
  startedAt: number;
  /** Factor applied to the dirty rate during pass `pass` (1 = none); deterministic. */
  jitter: (pass: number) => number;
}

/** A read-only view of one migration, for snapshots and tests. */
export interface SimMigrationView {
  id: string;
  instance: string;
  from: string;
  to: string;
  phase: SimPhase;
  startedAt: number;
  endedAt?: number;
  downtimeMs?: number;
  transferredBytes: number;
  remainingBytes: number;
  /** QEMU's dirty-sync-count: setup, each pass's end, and the final copy (or post-copy's start). */
  iteration: number;
  throttlePct: number;
  rateBytesPerS: number;
  stalled: boolean;
  error?: string;
}

export class SimMigration {
  readonly id: string;
  readonly instance: string;
  readonly from: string;
  readonly to: string;
  readonly startedAt: number;
  private readonly memoryBytes: number;
  private readonly baseDirtyBytesPerS: number;
  private readonly jitter: (pass: number) => number;
  tuning: Tuning;

  phase: SimPhase = 'precopy';
  /** Fair share given by the fleet, bytes/s. */
  rateBytesPerS = 0;
  /** A stall fault: the stream moves nothing. */
  stalled = false;
  transferredBytes = 0;
  throttlePct = 0;
  postcopyAt?: number;
  endedAt?: number;
  downtimeMs?: number;
  error?: string;

  private pass = 0;
  /** Dirty syncs so far (QEMU's dirty-sync-count): the setup's first. */
  private syncs = 1;
  /** What the bitmap held at this pass's start (its dirty sync). */
  private passBytes: number;
  private passSent = 0;
  /** Bytes the guest dirtied during the current pass (never more than its memory). */
  private dirtied = 0;
  private jitterFactor: number;
  /** Bytes left once the guest stopped or moved (switchover, paused, post-copy). */
  private left = 0;
  /** Post-copy's device-state transfer before pages flow, ms. */
  private holdMs = 0;
  /** When the guest stopped (switchover or pause), for the downtime. */
  private stoppedAt?: number;
  private remainingAtEnd = 0;

  constructor(init: SimMigrationInit) {
    this.id = init.id;
    this.instance = init.instance;
    this.from = init.from;
    this.to = init.to;
    this.startedAt = init.startedAt;
    this.memoryBytes = init.memoryBytes;
    this.baseDirtyBytesPerS = init.dirtyBytesPerS;
    this.jitter = init.jitter;
    this.tuning = { ...init.tuning };
    this.passBytes = init.memoryBytes;
    this.jitterFactor = init.jitter(0);
  }

  /** Still moving bytes (or waiting to): a stream in the fleet. */
  get moving(): boolean {
    return MOVING.has(this.phase);
  }

  get iteration(): number {
    return this.syncs;
  }

  /**
   * The stream's own ceiling: the fleet's per-stream cap, a tuned max-bandwidth, or 0 when
   * stalled. QEMU lifts max-bandwidth for the final copy and for post-copy.
   */
  capBytesPerS(streamCapBytesPerS: number): number {
    if (this.stalled) return 0;
    if (this.phase === 'switchover' || this.phase === 'postcopy') return streamCapBytesPerS;
    return Math.min(streamCapBytesPerS, this.tuning.maxBandwidthBytesPerS ?? Number.POSITIVE_INFINITY);
  }

  /** The guest's current page-dirtying rate at the source, bytes/s. */
  dirtyBytesPerS(): number {
    if (this.phase !== 'precopy') return 0;
    return this.baseDirtyBytesPerS * this.jitterFactor * (1 - this.throttlePct / 100);
  }

  /** QEMU's `remaining`: what is left of this pass plus what the guest dirtied during it. */
  remainingBytes(): number {
    if (this.phase === 'precopy') return this.passBytes - this.passSent + this.dirtied;
    if (this.moving) return this.left;
    return this.remainingAtEnd;
  }

  /** Time until this migration's next event (pass end or completion) at its current rate, ms. */
  msToEvent(): number {
    if (!this.moving) return Number.POSITIVE_INFINITY;
    const bytes = this.phase === 'precopy' ? this.passTarget() - this.passSent : this.left;
    if (bytes <= 0) return this.holdMs;
    if (this.rateBytesPerS <= 0) return Number.POSITIVE_INFINITY;
    return this.holdMs + (bytes / this.rateBytesPerS) * 1000;
  }

  /** Integrates `ms` of constant rates; the fleet never steps past an event. */
  advance(ms: number): void {
    if (!this.moving || ms <= 0) return;
    if (this.phase === 'precopy') {
      const sent = Math.max(0, Math.min(this.passTarget() - this.passSent, (this.rateBytesPerS * ms) / 1000));
      this.passSent += sent;
      this.transferredBytes += sent;
      this.dirtied = Math.min(this.memoryBytes, this.dirtied + (this.dirtyBytesPerS() * ms) / 1000);
      return;
    }
    const held = Math.min(this.holdMs, ms);
    this.holdMs -= held;
    const sent = Math.min(this.left, (this.rateBytesPerS * (ms - held)) / 1000);
    this.left -= sent;
    this.transferredBytes += sent;
  }

  /** Whether the next event is due now (after the span that led up to it). */
  eventDue(): boolean {
    return this.msToEvent() <= EVENT_SLACK_MS;
  }

  /** Reacts to the event that is due: the end of a pass, or the end of the final copy. */
  reachEvent(now: number): void {
    if (this.phase === 'precopy') this.endPass(now);
    else if (this.moving) this.complete(now);
  }

  switchToPostCopy(now: number): void {
    if (this.phase === 'postcopy' || this.phase === 'switchover' || this.phase === 'completed') return;
    if (this.phase === 'paused')
      throw new DriverRefusedError(
        `${this.instance} is paused for its switchover; post-copy is not possible now`,
      );
    this.assertRunning('switch to post-copy');
    if (!this.tuning.postcopyCapable)
      throw new DriverRefusedError(
        `${this.instance}'s migration started without the post-copy capability; it cannot switch to post-copy`,
      );
    this.left = this.remainingBytes();
    this.phase = 'postcopy';
    // The discard bitmap goes out after one more dirty sync.
    this.syncs += 1;
    this.holdMs = POSTCOPY_DOWNTIME_MS;
    this.postcopyAt = now;
  }

  /**
   * The simulated post-copy recovery: the dead channel is closed and a new one opened (QEMU's
   * migrate-pause, migrate-recover, migrate resume), so a stalled stream moves again.
   */
  recoverPostcopy(): void {
    if (this.phase !== 'postcopy')
      throw new ConflictError(
        `${this.instance}'s migration is ${this.phase}, not in post-copy: nothing to recover`,
      );
    this.stalled = false;
  }

  pause(now: number): void {
    if (this.phase === 'paused' || this.phase === 'switchover' || this.phase === 'completed') return;
    if (this.phase === 'postcopy')
      throw new DriverRefusedError(
        `${this.instance} already runs on ${this.to} (post-copy); it cannot be paused`,
      );
    this.assertRunning('pause');
    this.left = this.remainingBytes();
    this.phase = 'paused';
    // The final copy's dirty sync: nothing more is dirtied while the guest is stopped.
    this.syncs += 1;
    this.stoppedAt = now;
  }

  /** Cancels; the guest keeps (or resumes) running on the source. */
  cancel(now: number): void {
    if (!this.moving) return;
    if (this.phase === 'postcopy')
      throw new DriverRefusedError(
        `${this.instance} runs on ${this.to} in post-copy; a post-copy migration cannot be cancelled`,
      );
    this.end(now, 'cancelled');
  }

  fail(now: number, error: string): void {
    if (!this.moving) return;
    this.error = error;
    this.end(now, 'failed');
  }

  tune(tuning: Partial<Tuning>): void {
    if (tuning.autoConverge === false) this.throttlePct = 0;
    this.tuning = { ...this.tuning, ...definedOnly(tuning) };
  }

  sample(now: number): ProgressSample {
    const sample: ProgressSample = {
      at: now,
      status: STATUS[this.phase],
      totalBytes: this.memoryBytes,
      // Whole bytes, as a hypervisor counts them; the simulation keeps the exact values.
      transferredBytes: Math.round(this.transferredBytes),
      remainingBytes: this.phase === 'completed' ? 0 : Math.round(this.remainingBytes()),
      // Like QEMU, the rate is known only once a pass has ended (its dirty sync measured it).
      dirtyBytesPerS: this.pass > 0 ? this.dirtyBytesPerS() : 0,
      bandwidthBytesPerS: this.moving ? this.rateBytesPerS : 0,
      iteration: this.iteration,
    };
    if (this.moving && this.phase !== 'postcopy' && this.rateBytesPerS > 0)
      sample.expectedDowntimeMs = (this.remainingBytes() / this.rateBytesPerS) * 1000;
    if (this.downtimeMs !== undefined) sample.downtimeMs = this.downtimeMs;
    if (this.tuning.autoConverge || this.throttlePct > 0) sample.throttlePct = this.throttlePct;
    if (this.phase === 'paused') sample.paused = true;
    if (this.error !== undefined) sample.error = this.error;
    return sample;
  }

  view(): SimMigrationView {
    return {
      id: this.id,
      instance: this.instance,
      from: this.from,
      to: this.to,
      phase: this.phase,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      downtimeMs: this.downtimeMs,
      transferredBytes: this.transferredBytes,
      remainingBytes: this.phase === 'completed' ? 0 : this.remainingBytes(),
      iteration: this.iteration,
      throttlePct: this.throttlePct,
      rateBytesPerS: this.moving ? this.rateBytesPerS : 0,
      stalled: this.stalled,
      error: this.error,
    };
  }

  // ------------------------------------------------------------------------------------------

  /**
   * What this pass sends before QEMU syncs the bitmap again: whole chunks until the remainder
   * falls under the threshold (rate × downtime limit), at the current rate.
   */
  private passTarget(): number {
    const threshold = (this.rateBytesPerS * this.tuning.downtimeLimitMs) / 1000;
    if (this.rateBytesPerS <= 0) return this.passBytes;
    const capped =
      this.tuning.maxBandwidthBytesPerS !== undefined &&
      this.rateBytesPerS >= this.tuning.maxBandwidthBytesPerS;
    const chunk = chunkBytes(this.rateBytesPerS, capped ? Number.POSITIVE_INFINITY : this.rateBytesPerS);
    return passBytes(this.passBytes, threshold, chunk);
  }

  /**
   * QEMU's dirty sync at a pass end: what is pending is the bitmap's remainder plus what the
   * guest dirtied since the last sync; the guest stops when that fits rate × downtime limit.
   */
  private endPass(now: number): void {
    const threshold = (this.rateBytesPerS * this.tuning.downtimeLimitMs) / 1000;
    const sent = this.passSent;
    const pending = Math.min(this.memoryBytes, this.passBytes - sent + this.dirtied);
    const dirtied = this.dirtied;
    this.dirtied = 0;
    this.pass += 1;
    this.syncs += 1;
    if (fitsThreshold(pending, threshold)) {
      this.phase = 'switchover';
      // The final copy's own dirty sync.
      this.syncs += 1;
      this.left = pending;
      this.stoppedAt = now;
      return;
    }
    // Auto-converge (QEMU): a period that dirtied more than half of what it sent throttles harder.
    if (this.tuning.autoConverge && dirtied > sent / 2)
      this.throttlePct =
        this.throttlePct === 0
          ? AUTO_CONVERGE.initialPct
          : Math.min(AUTO_CONVERGE.maxPct, this.throttlePct + AUTO_CONVERGE.incrementPct);
    this.passBytes = pending;
    this.passSent = 0;
    this.jitterFactor = this.jitter(this.pass);
  }

  private complete(now: number): void {
    this.downtimeMs = this.phase === 'postcopy' ? POSTCOPY_DOWNTIME_MS : now - (this.stoppedAt ?? now);
    this.left = 0;
    this.end(now, 'completed');
  }

  private end(now: number, phase: 'completed' | 'failed' | 'cancelled'): void {
    this.remainingAtEnd = this.remainingBytes();
    this.phase = phase;
    this.endedAt = now;
    this.rateBytesPerS = 0;
  }

  private assertRunning(what: string): void {
    if (!this.moving)
      throw new DriverRefusedError(`cannot ${what}: the migration of ${this.instance} is ${this.phase}`);
  }
}

function definedOnly<T extends object>(value: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
