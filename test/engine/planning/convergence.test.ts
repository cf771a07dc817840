import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../src/engine/config.js';
import { GiB, MiB, POSTCOPY_DOWNTIME_MS } from '../../../src/engine/model.js';
import {
  predictAutoConverge,
  predictMove,
  predictPause,
  predictPostcopy,
  predictPrecopy,
} from '../../../src/engine/planning/convergence.js';

const base = { memoryBytes: 4 * GiB, bandwidthBytesPerS: 1 * GiB, downtimeLimitMs: 500 };

/**
 * QEMU's loop written out chunk by chunk, as migration_iteration_run runs it: look at what is
 * pending, sync the bitmap once its remainder is under the threshold, stop the guest once the
 * synced total fits, else send another chunk. The model computes whole passes in closed form; this
 * reference steps through every chunk, so the two are independent renderings of one algorithm.
 */
function qemuLoop(m: number, d: number, r: number, limitMs: number, switchover = r) {
  const threshold = (r * limitMs) / 1000;
  const chunk = Math.min(switchover > r ? r * 0.1 : Number.POSITIVE_INFINITY, switchover * 0.05);
  let bitmap = m;
  let dirtyLog = 0;
  let syncs = 1;
  let sent = 0;
  let seconds = 0;
  for (let step = 0; step < 1_000_000; step++) {
    if (bitmap < threshold) {
      const pending = Math.min(m, bitmap + dirtyLog);
      syncs++;
      if (pending <= Math.max(threshold, 4096))
        return {
          passes: syncs + 1,
          bytesSent: sent + pending,
          downtimeMs: (pending / switchover) * 1000,
          liveS: seconds,
        };
      bitmap = pending;
      dirtyLog = 0;
    }
    const bytes = Math.min(chunk, bitmap);
    sent += bytes;
    seconds += bytes / r;
    bitmap -= bytes;
    dirtyLog += (d * bytes) / r;
  }
  return undefined;
}

describe('pre-copy, as QEMU runs it', () => {
  it('stops a quiet guest a chunk under the threshold: downtime close to the limit on a bound link', () => {
    // 33 MiB at 32 MiB/s, 100 ms limit: threshold 3.2 MiB, chunks of 1.6 MiB (50 ms each).
    // Pass 0 sends 19 chunks (30.4 MiB), 2.6 MiB stay in the bitmap, 2.85 MiB were dirtied:
    // 5.45 MiB > 3.2. Pass 1 sends 2 chunks; 2.25 + 0.3 = 2.55 MiB fit, copied at 32 MiB/s.
    const p = predictPrecopy({
      memoryBytes: 33 * MiB,
      dirtyBytesPerS: 3 * MiB,
      bandwidthBytesPerS: 32 * MiB,
      downtimeLimitMs: 100,
    });
    expect(p.converges).toBe(true);
    expect(p.passes).toBe(4); // setup, two pass ends, the final copy
    expect(p.bytesSent / MiB).toBeCloseTo(30.4 + 3.2 + 2.55, 6);
    expect(p.downtimeMs).toBeCloseTo((2.55 / 32) * 1000, 6);
    expect(p.durationMs).toBeCloseTo(1050 + (2.55 / 32) * 1000, 6);
  });

  it("copies the rest at the path's rate when QEMU's own cap is what binds", () => {
    // The same guest under a 32 MiB/s max-bandwidth on a 1 GiB/s path: windows of 3.2 MiB.
    // Pass 0: 10 windows (32 MiB), 1 MiB left + 3 MiB dirtied; pass 1: one window, 0.8 + 0.3.
    const p = predictPrecopy({
      memoryBytes: 33 * MiB,
      dirtyBytesPerS: 3 * MiB,
      bandwidthBytesPerS: 32 * MiB,
      downtimeLimitMs: 100,
      switchoverBytesPerS: 1024 * MiB,
    });
    expect(p.passes).toBe(4);
    expect(p.bytesSent / MiB).toBeCloseTo(32 + 3.2 + 1.1, 6);
    expect(p.downtimeMs).toBeCloseTo((1.1 / 1024) * 1000, 6);
  });

  it('agrees with the chunk-by-chunk loop across sizes, rates, limits and caps', () => {
    let compared = 0;
    for (const m of [33 * MiB, 1.37 * GiB, 8.77 * GiB])
      for (const d of [0, 3 * MiB, 70 * MiB, 300 * MiB])
        for (const r of [32 * MiB, 117 * MiB, 1.1 * GiB])
          for (const limitMs of [30, 100, 500])
            for (const switchover of [r, 11 * r]) {
              const p = predictPrecopy({
                memoryBytes: m,
                dirtyBytesPerS: d,
                bandwidthBytesPerS: r,
                downtimeLimitMs: limitMs,
                switchoverBytesPerS: switchover,
                maxPasses: 10_000,
              });
              const ref = qemuLoop(m, d, r, limitMs, switchover);
              expect(p.converges, `M=${m} D=${d} R=${r} dl=${limitMs}`).toBe(ref !== undefined);
              if (!ref) continue;
              expect(p.passes).toBe(ref.passes);
              expect(p.bytesSent / ref.bytesSent).toBeCloseTo(1, 9);
              expect(
                p.downtimeMs - ref.downtimeMs,
                `M=${m} D=${d} R=${r} dl=${limitMs} s=${switchover}`,
              ).toBeCloseTo(0, 6);
              compared++;
            }
    expect(compared).toBeGreaterThan(150);
  });

  it('never converges when the guest dirties faster than the link', () => {
    const p = predictPrecopy({ ...base, dirtyBytesPerS: 2 * GiB });
    expect(p.converges).toBe(false);
    expect(p.downtimeMs).toBeCloseTo(4000, 0);
  });

  it('does not divide by zero on a dead link', () => {
    const p = predictPrecopy({ ...base, dirtyBytesPerS: MiB, bandwidthBytesPerS: 0 });
    expect(p.converges).toBe(false);
    expect(Number.isNaN(p.durationMs)).toBe(false);
  });
});

describe('strategies', () => {
  const heavy = { memoryBytes: 16 * GiB, dirtyBytesPerS: 900 * MiB, bandwidthBytesPerS: 625 * MiB };

  it('auto-converge throttles a guest that outruns the link until it fits', () => {
    const p = predictAutoConverge({ ...heavy, downtimeLimitMs: 500 });
    expect(p.converges).toBe(true);
    expect(p.strategy).toBe('auto-converge');
    expect(p.note).toMatch(/throttled up to \d+ %/);
    expect(predictPrecopy({ ...heavy, downtimeLimitMs: 500 }).converges).toBe(false);
  });

  it('post-copy switches over in milliseconds; pause costs remaining / bandwidth', () => {
    const post = predictPostcopy({ ...heavy, downtimeLimitMs: 500 });
    expect(post.downtimeMs).toBe(POSTCOPY_DOWNTIME_MS);
    const pause = predictPause({ ...heavy, downtimeLimitMs: 500 });
    // After the first pass the guest has dirtied all of its memory again: 16 GiB at 625 MiB/s.
    expect(pause.downtimeMs).toBeCloseTo(((16 * 1024) / 625) * 1000, 0);
  });

  it('names the cheapest safe strategy the policy allows', () => {
    const facts = { ...heavy, downtimeSloMs: 500 };
    expect(predictMove({ ...facts, dirtyBytesPerS: 10 * MiB }, defaultPolicy).strategy).toBe('precopy');
    // Auto-converge would get there, but only by sending more than twice the memory: where an
    // approver may allow post-copy, that is the cheaper way; where nobody may, auto-converge it is.
    expect(predictAutoConverge({ ...heavy, downtimeLimitMs: 500 }).bytesSent).toBeGreaterThan(
      2 * heavy.memoryBytes,
    );
    expect(predictMove(facts, defaultPolicy).strategy).toBe('postcopy');
    const noHuman = { ...defaultPolicy, allowPostCopy: false, allowPause: false };
    expect(predictMove(facts, noHuman).strategy).toBe('auto-converge');
    const noAc = { ...defaultPolicy, allowAutoConverge: false };
    const post = predictMove(facts, noAc);
    expect(post.strategy).toBe('postcopy');
    expect(post.note).toMatch(/dirties 900 MiB\/s, more than the 625 MiB\/s it can get; needs approval/);
    expect(predictMove(facts, { ...noAc, allowPostCopy: false }).strategy).toBe('pause');
    const none = predictMove(facts, { ...noAc, allowPostCopy: false, allowPause: false });
    expect(none.converges).toBe(false);
    expect(none.note).toMatch(/no allowed strategy converges/);
  });

  it('flags a pre-copy that sends more than twice the memory as better post-copied from the start', () => {
    // 600 MiB/s against 1 GiB/s: pre-copy converges, resending most of the memory pass after pass.
    const hog = {
      memoryBytes: 16 * GiB,
      dirtyBytesPerS: 600 * MiB,
      bandwidthBytesPerS: GiB,
      downtimeSloMs: 500,
    };
    const p = predictMove(hog, defaultPolicy);
    expect(p.strategy).toBe('precopy');
    expect(p.bytesSent).toBeGreaterThan(2 * hog.memoryBytes);
    expect(p.postcopySavesBytes).toBeCloseTo(p.bytesSent - hog.memoryBytes, 0);
    expect(p.note).toMatch(
      /pre-copy sends 2\.\d× its memory; post-copy from the start, if approved, sends it once/,
    );
    // Nobody may approve a post-copy: nothing to prefer. A quiet guest: nothing to save.
    expect(predictMove(hog, { ...defaultPolicy, allowPostCopy: false }).postcopySavesBytes).toBeUndefined();
    expect(
      predictMove({ ...hog, dirtyBytesPerS: 150 * MiB }, defaultPolicy).postcopySavesBytes,
    ).toBeUndefined();
  });
});
