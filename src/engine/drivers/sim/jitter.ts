/**
 * Deterministic jitter of guests' dirty rates: a pure function of (seed, migration id, pass), so
 * the same seed gives the same run whatever order the calls interleave in.
 */

/** Half-width of the jitter band: a dirty rate varies by up to ±5 % from pass to pass. */
export const JITTER_FRACTION = 0.05;

/** The factor applied to a dirty rate during one pass; seed 0 means none (always 1). */
export function dirtyRateJitter(seed: number, migrationId: string, pass: number): number {
  if (seed === 0) return 1;
  const u = unitFloat(hash32(`${seed}\u0000${migrationId}\u0000${pass}`));
  return 1 + JITTER_FRACTION * (2 * u - 1);
}

/** FNV-1a over UTF-16 code units. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One mulberry32 step: a well-mixed float in [0, 1) from a 32-bit state. */
function unitFloat(state: number): number {
  let t = (state + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
