import { expect } from 'vitest';
import { readGuestLog, waitForGuest } from './guest.js';

/**
 * The guest arrived: on the destination it never booted again, kept checking its pages (more
 * whole-region passes than the source had printed), and neither copy saw a bad page.
 */
export async function expectArrivedIntact(sourceSerial: string, destinationSerial: string): Promise<void> {
  const before = readGuestLog(sourceSerial);
  const lastPasses = before.progress.at(-1)?.passes ?? 0;
  // A starved guest may take longer than a few progress lines for one pass.
  const after = await waitForGuest(
    destinationSerial,
    (l) => l.progress.length >= 3 && l.progress.at(-1)!.passes > lastPasses,
  );
  expect(after.booted).toBe(false);
  expect([...before.corrupt, ...after.corrupt]).toEqual([]);
  expect(after.progress.every((p) => p.errors === 0)).toBe(true);
}

/** The guest still runs where `serial` is written: it keeps counting passes, with no bad page. */
export async function expectRunningIntact(serial: string): Promise<void> {
  const seen = readGuestLog(serial).progress.length;
  const log = await waitForGuest(serial, (l) => l.progress.length >= seen + 3);
  expect(log.corrupt).toEqual([]);
  expect(log.progress.every((p) => p.errors === 0)).toBe(true);
}
