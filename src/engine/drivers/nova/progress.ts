import { DriverReplyError } from '../../errors.js';
import type { MigrationStatus } from '../../model.js';
import type { ServerMigration } from './schemas.js';

/**
 * Nova's live-migration statuses in ferry's terms. Everything before the end counts as active
 * (the compute host reports bytes only while `running`); `cancelling` is not over yet.
 */
const STATUS: Readonly<Record<string, MigrationStatus>> = {
  accepted: 'active',
  queued: 'active',
  preparing: 'active',
  running: 'active',
  'post-migrating': 'active',
  cancelling: 'active',
  completed: 'completed',
  error: 'failed',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** Maps a Nova migration status; an unknown one is a reply ferry does not understand. */
export function sampleStatus(novaStatus: string): MigrationStatus {
  const status = STATUS[novaStatus];
  if (!status)
    throw new DriverReplyError(`Nova reported migration status "${novaStatus}", which ferry does not know`);
  return status;
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

  /** The last counters seen (for the final sample once Nova forgets the migration). */
  lastCounters(): Counters | undefined {
    const last = this.last;
    return last
      ? { totalBytes: last.total, transferredBytes: last.transferred, remainingBytes: last.remaining }
      : undefined;
  }

  current(): Rates {
    return { ...this.rates };
  }
}
