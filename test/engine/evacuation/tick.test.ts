import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { Ticker } from '../../../src/engine/evacuation/tick.js';

describe('Ticker', () => {
  it('steps every runner on the same ticks, one timer for all', async () => {
    const clock = new VirtualClock(0);
    let sleeps = 0;
    const counted = {
      now: () => clock.now(),
      sleep: (ms: number) => {
        sleeps++;
        return clock.sleep(ms);
      },
    };
    const ticker = new Ticker(counted, 1000);
    const steps: Record<string, number[]> = { a: [], b: [], c: [] };
    const runner = async (name: string) => {
      const pace = ticker.pace();
      for (let i = 0; i < 3; i++) {
        await pace();
        steps[name]!.push(clock.now());
      }
    };
    await Promise.all(['a', 'b', 'c'].map(runner));
    expect(steps).toEqual({ a: [1000, 2000, 3000], b: [1000, 2000, 3000], c: [1000, 2000, 3000] });
    expect(sleeps).toBe(3);
  });

  it('keeps a runner that joins late, or overruns a tick, an interval apart and never twice on a tick', async () => {
    const clock = new VirtualClock(0);
    const ticker = new Ticker(clock, 1000);
    const steady = async () => {
      const pace = ticker.pace();
      for (let i = 0; i < 4; i++) await pace();
    };
    const slow: number[] = [];
    const late = async () => {
      await clock.sleep(500);
      const pace = ticker.pace();
      slow.push(clock.now());
      for (let i = 0; i < 2; i++) {
        await pace();
        slow.push(clock.now());
        // A step that takes longer than the interval: the next tick has come when it waits.
        await clock.sleep(1200);
      }
      await pace();
      slow.push(clock.now());
    };
    await Promise.all([steady(), late()]);
    // Joins at 0.5 s, steps on the 1 s tick; its step ends at 2.2 s, after the 2 s tick: it
    // steps at once, and after the next overrun (3.4 s, the 3 s tick came) at once again.
    expect(slow).toEqual([500, 1000, 2200, 3400]);
    for (let i = 1; i < slow.length - 1; i++) expect(slow[i + 1]! - slow[i]!).toBeGreaterThanOrEqual(1000);
  });
});
