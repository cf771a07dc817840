/**
 * QEMU's pre-copy loop in its own terms (migration.c migration_iteration_run, ram.c): the
 * primitives both the convergence model and the simulator run, so the two agree by construction
 * and neither imports the other.
 */

/**
 * QEMU's rate-limit window (BUFFER_DELAY): under `max-bandwidth` it sends a window's budget, then
 * waits for the next window before it looks at what is pending again.
 */
export const QEMU_RATE_WINDOW_S = 0.1;

/** QEMU's longest send between two looks when nothing limits its rate (ram.c MAX_WAIT). */
export const QEMU_MAX_WAIT_S = 0.05;

/** QEMU tracks dirty memory in pages: at most one dirty page always fits the downtime limit. */
export const PAGE_BYTES = 4096;

/**
 * Bytes QEMU sends between two looks at what is pending: a window's budget under its own cap, or
 * MAX_WAIT's worth at the path's rate, whichever comes first.
 */
export function chunkBytes(bandwidthBytesPerS: number, switchoverBytesPerS = bandwidthBytesPerS): number {
  const capped = switchoverBytesPerS > bandwidthBytesPerS;
  const windowBudget = capped ? bandwidthBytesPerS * QEMU_RATE_WINDOW_S : Number.POSITIVE_INFINITY;
  return Math.min(windowBudget, switchoverBytesPerS * QEMU_MAX_WAIT_S);
}

/**
 * One pass of QEMU's loop: from `bitmapBytes` pending at a dirty sync, the bytes sent in whole
 * chunks until the bitmap's remainder falls under `thresholdBytes` (never more than the bitmap).
 */
export function passBytes(bitmapBytes: number, thresholdBytes: number, chunk: number): number {
  if (bitmapBytes < thresholdBytes) return 0;
  const chunks = Math.floor((bitmapBytes - thresholdBytes) / chunk) + 1;
  return Math.min(bitmapBytes, chunks * chunk);
}

/** Whether what is pending after a dirty sync fits QEMU's threshold (a page always does). */
export function fitsThreshold(pendingBytes: number, thresholdBytes: number): boolean {
  return pendingBytes <= Math.max(thresholdBytes, PAGE_BYTES);
}
