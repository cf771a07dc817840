import { TZDate } from '@date-fns/tz';
import { addDays } from 'date-fns';
import type { WindowConfig } from '../config.js';
import { NotFoundError } from '../errors.js';
import type { MaintenanceWindow } from '../model.js';

/**
 * Named maintenance windows ("saturday 02:00-05:00 Europe/London") turned into instants. Done in
 * the window's own zone, so a window keeps its wall-clock hours across daylight-saving changes.
 */

const DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;

function at(day: TZDate, hhmm: string, zone: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return new TZDate(day.getFullYear(), day.getMonth(), day.getDate(), h, m, zone).getTime();
}

/**
 * The window that is open at `now`, or the next one to open. A window whose end is not after its
 * start (22:00-02:00) runs past midnight.
 */
export function nextWindow(window: WindowConfig, now: number): MaintenanceWindow {
  const today = new TZDate(now, window.timezone);
  // Start from yesterday: an overnight window that opened yesterday may still be open.
  for (let offset = -1; offset <= 8; offset++) {
    const day = addDays(today, offset);
    if (!window.days.includes(DAYS[day.getDay()]!)) continue;
    const start = at(day, window.start, window.timezone);
    let end = at(day, window.end, window.timezone);
    if (end <= start) end = at(addDays(day, 1), window.end, window.timezone);
    if (end > now) return { name: window.name, start, end };
  }
  // Unreachable with at least one day in the schema; kept as a typed failure rather than a loop.
  throw new NotFoundError(`window ${window.name} never opens`);
}

/** Looks a window up by name; the error lists the names that exist. */
export function findWindow(windows: readonly WindowConfig[], name: string): WindowConfig {
  const found = windows.find((w) => w.name === name);
  if (!found) {
    const known = windows.map((w) => w.name).join(', ');
    throw new NotFoundError(
      `no maintenance window named "${name}"; ${known ? `configured windows: ${known}` : 'no windows are configured (config windows:)'}`,
    );
  }
  return found;
}
