import { describe, expect, it } from 'vitest';
import { GBPS, GiB, MiB, type Prediction } from '../../../../src/engine/model.js';
import {
  predictAutoConverge,
  predictPause,
  predictPostcopy,
  predictPrecopy,
} from '../../../../src/engine/planning/convergence.js';
import { follow, host, instance, last, move, simulate, tuning } from './support.js';

/**
 * A single migration in the simulator against the closed-form model of convergence.ts: the
 * simulator integrates the same pass recurrence in continuous time, so with jitter off the two
 * agree, and the bench can trust the simulator where the model has no closed form (shared links).
 */

interface Outcome {
  completed: boolean;
  durationMs: number;
  bytesSent: number;
  downtimeMs: number;
  passes: number;
}

const WIDE_NIC = 100 * GBPS;

async function runOne(
  m: number,
  d: number,
  r: number,
  limitMs: number,
  options: {
    autoConverge?: boolean;
    seed?: number;
    switchAtMs?: number;
    switchTo?: 'postcopy' | 'pause';
  } = {},
): Promise<Outcome> {
  const { driver, clock } = simulate({
    hosts: [host('hv1', { nicBytesPerS: WIDE_NIC }), host('hv2', { nicBytesPerS: WIDE_NIC })],
    instances: [instance('vm', 'hv1', { memoryBytes: m, dirtyBytesPerS: d })],
    streamCapBytesPerS: r,
    seed: options.seed ?? 0,
  });
  const handle = await driver.start(move('vm', 'hv1', 'hv2'), {
    ...tuning,
    downtimeLimitMs: limitMs,
    autoConverge: options.autoConverge ?? false,
  });
  if (options.switchAtMs !== undefined) {
    await clock.sleep(options.switchAtMs);
    if (options.switchTo === 'pause') await driver.pause(handle);
    else await driver.switchToPostCopy(handle);
  }
  // Coarse sampling on purpose: the simulator integrates between events, not per sample.
  const samples = await follow(driver, clock, handle, { everyMs: 10_000, limitMs: 3_600_000 });
  const final = last(samples);
  const view = driver.snapshot().migrations[0]!;
  return {
    completed: final.status === 'completed',
    durationMs: (view.endedAt ?? clock.now()) - view.startedAt,
    bytesSent: final.transferredBytes,
    downtimeMs: final.downtimeMs ?? Number.NaN,
    passes: final.iteration,
  };
}

/** Relative error, with an absolute floor for quantities that are (nearly) zero. */
function error(actual: number, expected: number, floor: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), floor);
}

function expectAgreement(
  outcome: Outcome,
  p: Prediction,
): { duration: number; bytes: number; downtime: number } {
  const errors = {
    duration: error(outcome.durationMs, p.durationMs, 1),
    bytes: error(outcome.bytesSent, p.bytesSent, MiB),
    downtime: error(outcome.downtimeMs, p.downtimeMs, 1),
  };
  expect(outcome.completed).toBe(true);
  expect(errors.duration).toBeLessThan(0.05);
  expect(errors.bytes).toBeLessThan(0.05);
  expect(errors.downtime).toBeLessThan(0.05);
  return errors;
}

describe('simulator fidelity against the closed-form pre-copy model', () => {
  const memories = [1 * GiB, 4 * GiB, 16 * GiB];
  const dirtyRates = [0, 20 * MiB, 100 * MiB, 300 * MiB, 600 * MiB];
  const bandwidths = [400 * MiB, 1 * GiB, 8 * GBPS];
  const limits = [50, 300, 1000];

  it('agrees with predictPrecopy within 5 % on duration, bytes and downtime across the grid', async () => {
    let compared = 0;
    let multiPass = 0;
    let nonConverging = 0;
    const worst = { duration: 0, bytes: 0, downtime: 0 };
    for (const m of memories)
      for (const d of dirtyRates)
        for (const r of bandwidths)
          for (const limitMs of limits) {
            const p = predictPrecopy({
              memoryBytes: m,
              dirtyBytesPerS: d,
              bandwidthBytesPerS: r,
              downtimeLimitMs: limitMs,
            });
            if (!p.converges) {
              if (d < r) continue; // converges after the model's 30-pass horizon: nothing to compare
              const outcome = await runOne(m, d, r, limitMs);
              expect(outcome.completed, `M=${m} D=${d} R=${r} never converges`).toBe(false);
              nonConverging++;
              continue;
            }
            const outcome = await runOne(m, d, r, limitMs);
            const errors = expectAgreement(outcome, p);
            expect(outcome.passes).toBe(p.passes);
            for (const k of ['duration', 'bytes', 'downtime'] as const)
              worst[k] = Math.max(worst[k], errors[k]);
            compared++;
            if (p.passes > 2) multiPass++;
          }
    expect(compared).toBeGreaterThan(80);
    expect(multiPass).toBeGreaterThan(30);
    expect(nonConverging).toBeGreaterThan(0);
    // The simulator integrates the same recurrence exactly: what is left is float noise (epoch
    // milliseconds carry about 0.2 µs of precision).
    if (process.env.SIM_FIDELITY_REPORT) console.log({ compared, multiPass, nonConverging, worst });
    expect(Math.max(worst.duration, worst.bytes, worst.downtime)).toBeLessThan(1e-3);
  });

  it('agrees with predictAutoConverge for a guest that only converges throttled', async () => {
    const input = {
      memoryBytes: 4 * GiB,
      dirtyBytesPerS: 1.5 * GiB,
      bandwidthBytesPerS: 1 * GiB,
      downtimeLimitMs: 300,
    };
    const p = predictAutoConverge(input);
    expect(p.converges).toBe(true);
    const outcome = await runOne(input.memoryBytes, input.dirtyBytesPerS, input.bandwidthBytesPerS, 300, {
      autoConverge: true,
    });
    expectAgreement(outcome, p);
    expect(outcome.passes).toBe(p.passes);
  });

  it('agrees with predictPostcopy and predictPause when switching after the first pass', async () => {
    const input = {
      memoryBytes: 4 * GiB,
      dirtyBytesPerS: 1.5 * GiB,
      bandwidthBytesPerS: 1 * GiB,
      downtimeLimitMs: 300,
    };
    const firstPassMs = (input.memoryBytes / input.bandwidthBytesPerS) * 1000;
    for (const [switchTo, p] of [
      ['postcopy', predictPostcopy(input)],
      ['pause', predictPause(input)],
    ] as const) {
      const outcome = await runOne(input.memoryBytes, input.dirtyBytesPerS, input.bandwidthBytesPerS, 300, {
        switchAtMs: firstPassMs,
        switchTo,
      });
      expectAgreement(outcome, p);
      expect(outcome.passes).toBe(p.passes);
    }
  });

  it('stays close to the model with the default ±5 % dirty-rate jitter', async () => {
    const input = {
      memoryBytes: 8 * GiB,
      dirtyBytesPerS: 200 * MiB,
      bandwidthBytesPerS: 1 * GiB,
      downtimeLimitMs: 500,
    };
    const p = predictPrecopy(input);
    const exact = await runOne(input.memoryBytes, input.dirtyBytesPerS, input.bandwidthBytesPerS, 500);
    const jittered = await runOne(input.memoryBytes, input.dirtyBytesPerS, input.bandwidthBytesPerS, 500, {
      seed: 1,
    });
    expect(jittered.bytesSent).not.toBe(exact.bytesSent);
    expect(error(jittered.durationMs, p.durationMs, 1)).toBeLessThan(0.05);
    expect(error(jittered.bytesSent, p.bytesSent, MiB)).toBeLessThan(0.05);
  });
});
