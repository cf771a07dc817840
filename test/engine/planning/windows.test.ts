import { describe, expect, it } from 'vitest';
import { windowSchema } from '../../../src/engine/config.js';
import { NotFoundError } from '../../../src/engine/errors.js';
import { findWindow, nextWindow } from '../../../src/engine/planning/windows.js';

const saturdayNight = windowSchema.parse({
  name: 'saturday-night',
  timezone: 'Europe/London',
  days: ['saturday'],
  start: '02:00',
  end: '05:00',
});
const iso = (ms: number) => new Date(ms).toISOString();

describe('maintenance windows', () => {
  it('finds the next Saturday 02:00-05:00 London time, in UTC outside summer time', () => {
    // Tuesday 24 November 2026, 22:00 UTC (London is on GMT).
    const w = nextWindow(saturdayNight, Date.UTC(2026, 10, 24, 22, 0));
    expect(iso(w.start)).toBe('2026-11-28T02:00:00.000Z');
    expect(iso(w.end)).toBe('2026-11-28T05:00:00.000Z');
    expect(w.name).toBe('saturday-night');
  });

  it('keeps the wall-clock hours across a change to summer time', () => {
    // Saturday 28 March 2026 is GMT; the next Saturday, 4 April, is BST (UTC+1).
    const after = Date.UTC(2026, 2, 28, 6, 0);
    const w = nextWindow(saturdayNight, after);
    expect(iso(w.start)).toBe('2026-04-04T01:00:00.000Z');
    expect(iso(w.end)).toBe('2026-04-04T04:00:00.000Z');
  });

  it('returns the window that is open now', () => {
    const inside = Date.UTC(2026, 10, 28, 3, 30);
    const w = nextWindow(saturdayNight, inside);
    expect(w.start).toBeLessThan(inside);
    expect(w.end).toBeGreaterThan(inside);
  });

  it('runs an overnight window past midnight, even one that opened yesterday', () => {
    const overnight = windowSchema.parse({
      name: 'nightly',
      timezone: 'UTC',
      start: '22:00',
      end: '02:00',
    });
    const w = nextWindow(overnight, Date.UTC(2026, 10, 25, 1, 0));
    expect(iso(w.start)).toBe('2026-11-24T22:00:00.000Z');
    expect(iso(w.end)).toBe('2026-11-25T02:00:00.000Z');
  });

  it('names the windows that exist when asked for one that does not', () => {
    expect(() => findWindow([saturdayNight], 'sunday')).toThrow(NotFoundError);
    expect(() => findWindow([saturdayNight], 'sunday')).toThrow(/configured windows: saturday-night/);
  });
});
