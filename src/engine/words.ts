import { GiB, MiB } from './model.js';

/** Quantities and times in the engine's own words (blockers, notes, reasons). */

/** Quantities in blocker reasons, the way an operator writes them: "64 GiB", "1.5 GiB", "512 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${trim(bytes / GiB)} GiB`;
  return `${trim(bytes / MiB)} MiB`;
}

/** A rate the way operators read it: "954 MiB/s". */
export function formatRate(bytesPerS: number): string {
  return `${Math.round(bytesPerS / MiB)} MiB/s`;
}

/**
 * "05:12" (or "05:12:30" with `seconds`) in the given IANA zone; the date is added when it is not
 * the reference instant's day.
 */
export function formatClock(
  epochMs: number,
  timeZone: string,
  referenceMs?: number,
  seconds = false,
): string {
  const time = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    second: seconds ? '2-digit' : undefined,
    hourCycle: 'h23',
  }).format(epochMs);
  if (referenceMs === undefined) return time;
  const day = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  const date = day.format(epochMs);
  return date === day.format(referenceMs) ? time : `${date} ${time}`;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
