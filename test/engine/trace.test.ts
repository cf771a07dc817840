import { describe, expect, it } from 'vitest';
import type { ProgressSample } from '../../src/engine/model.js';
import { TRACE, traced } from '../../src/engine/trace.js';

const sample = (
  at: number,
  remainingBytes: number,
  status: ProgressSample['status'] = 'active',
): ProgressSample => ({
  at,
  status,
  totalBytes: 1e9,
  transferredBytes: 1e9 - remainingBytes,
  remainingBytes,
  dirtyBytesPerS: 0,
  bandwidthBytesPerS: 5e8,
  iteration: 1,
});

describe('a migration’s chart trace', () => {
  it('keeps one point per step of engine time, and always the end', () => {
    let trace = traced(undefined, sample(0, 1e9));
    for (const at of [200, 400, 999, 1000, 1500, 2100]) trace = traced(trace, sample(at, 1e9 - at * 1e5));
    expect(trace.points.map((p) => p[0])).toEqual([0, 1000, 2100]);
    trace = traced(trace, sample(2300, 5e5, 'completed'));
    expect(trace.points.at(-1)).toEqual([2300, 0, 5e8]);
    expect(trace.stepMs).toBe(TRACE.resolutionMs);
  });

  it('never holds more than the cap: a long migration keeps its whole curve at a doubled step', () => {
    let trace = traced(undefined, sample(0, 1e9));
    const hours = 3 * 3600_000;
    for (let at = 1000; at <= hours; at += 1000) trace = traced(trace, sample(at, 1e9 * (1 - at / hours)));
    expect(trace.points.length).toBeLessThanOrEqual(TRACE.maxPoints);
    expect(trace.points.length).toBeGreaterThan(TRACE.maxPoints / 2 - 2);
    expect(trace.points[0]![0]).toBe(0);
    expect(trace.points.at(-1)![0]).toBeGreaterThan(hours - trace.stepMs);
    expect(trace.stepMs).toBeGreaterThanOrEqual(hours / TRACE.maxPoints);
    const gaps = trace.points.slice(1).map((p, i) => p[0] - trace.points[i]![0]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(2 * trace.stepMs);
  });

  it('ignores a sample older than its last point', () => {
    const trace = traced(traced(undefined, sample(5000, 1e9)), sample(1000, 5e8, 'completed'));
    expect(trace.points).toHaveLength(1);
  });
});
