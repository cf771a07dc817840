import type { MigrationTrace, ProgressSample } from './model.js';

/**
 * A migration's curve for the post-mortem's chart: remaining bytes and bandwidth over time. The
 * event stream gets a progress event only every 10 s, so a one-minute migration would have no
 * curve; this keeps a point per `TRACE.resolutionMs` of engine time instead, stored with the
 * migration's record (so durable wherever the record is). It never holds more than
 * `TRACE.maxPoints`: when full, every other point is dropped and the spacing doubles, so a long
 * migration keeps its whole curve at a coarser step and a record stays a few KiB.
 */
export const TRACE = {
  /** Spacing of points while a migration is young: the policy's default sampling interval. */
  resolutionMs: 1000,
  /** At most this many points per migration (about 8 KiB of JSON). */
  maxPoints: 240,
} as const;

/** The trace with `sample` added when it is at least a step after the last point, or ends the migration. */
export function traced(trace: MigrationTrace | undefined, sample: ProgressSample): MigrationTrace {
  const current = trace ?? { stepMs: TRACE.resolutionMs, points: [] };
  const last = current.points.at(-1);
  const final = sample.status === 'completed' || sample.status === 'failed' || sample.status === 'cancelled';
  if (last && sample.at < last[0] + current.stepMs && !final) return current;
  if (last && sample.at < last[0]) return current;
  const point: [number, number, number] = [
    sample.at,
    Math.max(0, Math.round(sample.status === 'completed' ? 0 : sample.remainingBytes)),
    Math.max(0, Math.round(sample.bandwidthBytesPerS)),
  ];
  let { stepMs, points } = current;
  points = [...points, point];
  while (points.length > TRACE.maxPoints) {
    // Keep the first and the newest points; thin what lies between to the doubled step.
    stepMs *= 2;
    points = points.filter((_, i) => i % 2 === 0 || i === points.length - 1);
  }
  return { stepMs, points };
}
