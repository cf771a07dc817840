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
});
