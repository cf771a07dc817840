import { DriverReplyError } from '../../errors.js';
import type { MigrationStatus } from '../../model.js';
import type { ServerMigration } from './schemas.js';

/**
 * Nova's live-migration statuses in ferry's terms. Before the compute host runs the job
 * (accepted by the conductor, queued, preparing) nothing moves: `setup`. The compute reports
 * bytes only while `running`. After a post-copy switch Nova writes `running (post-copy)` until
 * the end; `post-migrating` is the clean-up after the guest runs on the destination, like
 * QEMU's device phase nothing is left to tune or ask. `cancelling` is not over yet. A libvirt
 * rollback leaves `failed`, a failure before the job (scheduling, pre-checks) `error`.
 */
const STATUS: Readonly<Record<string, MigrationStatus>> = {
  accepted: 'setup',
  queued: 'setup',
  preparing: 'setup',
  running: 'active',
  'running (post-copy)': 'postcopy-active',
  'post-migrating': 'device',
  cancelling: 'active',
  completed: 'completed',
  error: 'failed',
  failed: 'failed',
  cancelled: 'cancelled',
};

const ENDED: readonly MigrationStatus[] = ['completed', 'failed', 'cancelled'];

/** Maps a Nova migration status; an unknown one is a reply ferry does not understand. */
export function sampleStatus(novaStatus: string): MigrationStatus {
  const status = STATUS[novaStatus];
  if (!status)
    throw new DriverReplyError(`Nova reported migration status "${novaStatus}", which ferry does not know`);
  return status;
}

/** Whether a migration in this Nova status is still under way (any phase before the end). */
export function inProgress(novaStatus: string): boolean {
  return !ENDED.includes(sampleStatus(novaStatus));
}

export interface Counters {
  totalBytes: number;
  transferredBytes: number;
  remainingBytes: number;
}

/** Memory and disk (block migration) both cross the link: the sample counts both; null is 0. */
export function countersOf(m: ServerMigration): Counters {
  const n = (v: number | null) => v ?? 0;
  return {
    totalBytes: n(m.memory_total_bytes) + n(m.disk_total_bytes),
    transferredBytes: n(m.memory_processed_bytes) + n(m.disk_processed_bytes),
    remainingBytes: n(m.memory_remaining_bytes) + n(m.disk_remaining_bytes),
  };
}

export interface Rates {
  bandwidthBytesPerS: number;
  dirtyBytesPerS: number;
  iteration: number;
}

/**
 * Nova reports byte counters only; bandwidth, dirty rate and pass are estimated from successive
 * samples. Within a pre-copy pass `remaining` falls; a new pass starts with the pages dirtied
 * during the last one. A new pass shows as `remaining` rising, or as more bytes sent since the
 * last sample than remained then; its bytes, divided by the time since the previous pass began,
 * give the dirty rate. Sparse samples can miss passes: the iteration is a lower bound.
 */
export class RateEstimator {
  private last?: { at: number; transferred: number; remaining: number; total: number };
  private passStartedAt?: number;
  private rates: Rates = { bandwidthBytesPerS: 0, dirtyBytesPerS: 0, iteration: 0 };

  /** Feeds one observation and returns the current estimates. */
  observe(at: number, counters: Counters): Rates {
    const last = this.last;
    if (counters.transferredBytes > 0 && this.rates.iteration === 0) {
      this.rates.iteration = 1;
      this.passStartedAt = at;
    } else if (last && at > last.at) {
      const sent = counters.transferredBytes - last.transferred;
      if (sent >= 0) this.rates.bandwidthBytesPerS = Math.round((sent * 1000) / (at - last.at));
      const newPass = counters.remainingBytes > last.remaining || sent > last.remaining;
      if (newPass && this.rates.iteration > 0) {
        const passBytes = counters.remainingBytes + Math.max(0, sent - last.remaining);
        const since = this.passStartedAt ?? last.at;
        if (at > since) this.rates.dirtyBytesPerS = Math.round((passBytes * 1000) / (at - since));
        this.rates.iteration += 1;
        this.passStartedAt = at;
      }
    }
    this.last = {
      at,
      transferred: counters.transferredBytes,
      remaining: counters.remainingBytes,
      total: counters.totalBytes,
    };
    return { ...this.rates };
  }

  /** The last counters seen (Nova shows none before `running`, in post-copy, or after the end). */
  lastCounters(): Counters {
    const last = this.last;
    return last
      ? { totalBytes: last.total, transferredBytes: last.transferred, remainingBytes: last.remaining }
      : { totalBytes: 0, transferredBytes: 0, remainingBytes: 0 };
  }

  current(): Rates {
    return { ...this.rates };
  }
}
