import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';

describe('VirtualClock', () => {
  it('wakes sleepers in time order and jumps straight to each wake-up', async () => {
    const clock = new VirtualClock(0);
    const woke: string[] = [];
    const sleeper = async (label: string, ms: number) => {
      await clock.sleep(ms);
      woke.push(`${label}@${clock.now()}`);
    };
    await Promise.all([sleeper('b', 3_600_000), sleeper('a', 1000), sleeper('c', 3_600_000)]);
    expect(woke).toEqual(['a@1000', 'b@3600000', 'c@3600000']);
  });

  it('advances by exactly the time slept, for hours of simulated time', async () => {
    const clock = new VirtualClock(0);
    for (let i = 0; i < 10_000; i++) await clock.sleep(1000);
    expect(clock.now()).toBe(10_000_000);
  });

  it('with a quiet horizon, moves polls due before it to their own first tick at or after it', async () => {
    const asked: [number, number][] = [];
    // Nothing to see before 10.5 s: the 1 s poll next wakes at 11 s, on its own cadence.
    const clock = new VirtualClock(0, {
      pollMs: 1000,
      until: async (now, limit) => {
        asked.push([now, limit]);
        return now < 10_500 ? 10_500 : now;
      },
    });
    const woke: string[] = [];
    const poller = async (label: string, ms: number, times: number) => {
      for (let i = 0; i < times; i++) {
        await clock.sleep(ms);
        woke.push(`${label}@${clock.now()}`);
      }
    };
    await Promise.all([poller('poll', 1000, 3), poller('other', 400, 1)]);
    // The 400 ms sleep is no poll: it wakes on time, and nothing is skipped before it.
    expect(woke).toEqual(['other@400', 'poll@11000', 'poll@12000', 'poll@13000']);
    expect(asked[0]).toEqual([400, Number.POSITIVE_INFINITY]);
  });

  it('with a quiet horizon at now, wakes every poll as without one', async () => {
    const clock = new VirtualClock(0, { pollMs: 1000, until: async (now) => now });
    for (let i = 0; i < 5; i++) await clock.sleep(1000);
    expect(clock.now()).toBe(5000);
  });
});
