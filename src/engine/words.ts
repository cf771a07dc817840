import { GiB, MiB } from './model.js';

/** Quantities and times in the engine's own words (blockers, notes, reasons). */

/**
 * A size the way an operator writes it: "64 GiB", "1.5 GiB", "512 MiB", "900 KiB" (one decimal
 * below 100 of a unit). `fixed` always shows the decimal of GiB ("4.0 GiB"), as the policy's
 * reasons do, so a figure that changes between two reasons keeps its width.
 */
export function formatBytes(bytes: number, style: 'short' | 'fixed' = 'short'): string {
  if (style === 'fixed')
    return bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : `${(bytes / MiB).toFixed(0)} MiB`;
  if (bytes >= GiB) return `${round(bytes / GiB)} GiB`;
  if (bytes >= MiB) return `${round(bytes / MiB)} MiB`;
  if (bytes >= 1024) return `${round(bytes / 1024)} KiB`;
  return `${Math.round(bytes)} B`;
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

function round(x: number): string {
  return x >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}
