import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../src/commands/kv.js';
import { forgetStale, LOCAL_SWEEP_AT } from '../../src/commands/redis-or-local.js';
import { ReplayGuard } from '../../src/commands/replays.js';
import { until } from '../support/until.js';

/** The guards' memory of this process while Redis is away: one bound, one sweep rule. */
describe('a guard’s local memory', () => {
  it('sweeps nothing below the bound, and the stale entries once it is reached', () => {
    const entries = new Map(Array.from({ length: LOCAL_SWEEP_AT - 1 }, (_, i) => [i, i % 2 === 0]));
    forgetStale(entries, (stale) => stale);
    expect(entries.size).toBe(LOCAL_SWEEP_AT - 1);
    entries.set(LOCAL_SWEEP_AT, false);
    forgetStale(entries, (stale) => stale);
    expect([...entries.values()].every((stale) => !stale)).toBe(true);
    expect(entries.size).toBe(LOCAL_SWEEP_AT / 2);
  });

  it('refuses a replay while its mark lives, and forgets the mark after its time without a sweep', async () => {
    // A client whose connection has ended: the guard decides in this process at once.
    const redis = new Redis({ lazyConnect: true });
    redis.disconnect();
    const lines: string[] = [];
    const guard = new ReplayGuard({} as KeyValueStore, redis, 200, (line) => lines.push(line));
    expect(await guard.first({ triggerId: 't1' })).toBe(true);
    expect(await guard.first({ triggerId: 't1' })).toBe(false);
    expect(lines.at(-1)).toBe('ignored a replayed request (trigger_id t1)');
    // Far below the sweep's bound: the mark is still in the map, but past its time it counts for nothing.
    await until(async () => guard.first({ triggerId: 't1' }), 'the mark forgotten after its time', 5000, 20);
  });
});
