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

describe('pre-copy', () => {
  it('sends memory once and switches over at once for a guest that barely writes', () => {
    const p = predictPrecopy({ ...base, dirtyBytesPerS: 1 * MiB });
    expect(p.converges).toBe(true);
    expect(p.passes).toBe(2);
    expect(p.bytesSent).toBeCloseTo(4 * GiB + 4 * MiB, -3);
    expect(p.durationMs).toBeCloseTo(4000 + (4 / 1024) * 1000, 0);
    expect(p.downtimeMs).toBeCloseTo((4 / 1024) * 1000, 3);
  });

  it('follows the geometric series M·λ^i until the rest fits in the downtime budget', () => {
    // λ = 0.5: passes send 4, 2, 1, 0.5 GiB; 0.25 GiB fits in 1 GiB/s × 0.5 s... 0.5 does too.
    const p = predictPrecopy({ ...base, dirtyBytesPerS: 512 * MiB });
    const sent = [4, 2, 1].map((g) => g * GiB);
    expect(p.converges).toBe(true);
    expect(p.bytesSent).toBeCloseTo(sent.reduce((a, b) => a + b) + 0.5 * GiB, -3);
    expect(p.downtimeMs).toBeCloseTo(500, 3);
    expect(p.passes).toBe(4);
    // Closed form of DESIGN.md: M(1-λ^(n+1))/(1-λ) with n = 3.
    expect(p.bytesSent).toBeCloseTo((4 * GiB * (1 - 0.5 ** 4)) / 0.5, -3);
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
});
