import { describe, expect, it } from 'vitest';
import { compareModes, runDifferences } from '../../bench/compare.js';
import { campaignFleet, drainMixedFleet } from '../../bench/fleets.js';
import { drainOnSim, lineRateBoundMs, rateBoundMs } from '../../bench/simulate.js';
import { policyFor, selectStrategies } from '../../bench/strategies.js';
import { defaultPolicy } from '../../src/engine/config.js';
import { GBPS, GiB, MiB } from '../../src/engine/model.js';

const quiet = () => {};

describe('the event-driven simulator', () => {
  // Small fleets the bench never uses, with heavy writers (post-copy, timeouts, aborts).
  for (const seed of [3, 11]) {
    it(`drains a mixed host with the stepper's outcomes, for every strategy (seed ${seed})`, async () => {
      const drain = drainMixedFleet(seed, { vms: 8, heavy: 2 });
      const rows = await compareModes(
        { seed, strategies: selectStrategies(), basePolicy: defaultPolicy, mode: 'events', log: quiet },
        drain,
      );
      expect(rows.map((r) => r.strategy)).toEqual(['ferry', 'nova', 'kubevirt', 'all-at-once']);
      for (const r of rows)
        expect({ strategy: r.strategy, differences: r.differences }).toEqual({
          strategy: r.strategy,
          differences: [],
        });
      // Every migration ended, one way or another: a run that stopped early would agree with nothing.
      expect(rows.every((r) => r.makespanS.events > 0)).toBe(true);
    }, 120_000);
  }

  it("runs a rolling campaign with maintenance with the stepper's outcomes", async () => {
    const { fleet, campaign } = campaignFleet(5, { hosts: 3, load: 0.4 });
    for (const name of ['ferry', 'kubevirt'] as const) {
      const policy = policyFor(selectStrategies([name])[0]!, defaultPolicy);
      const run = (mode: 'events' | 'stepper') =>
        drainOnSim({
          fleet,
          sources: campaign,
          policy,
          physicalCapGbps: policy.streamCapGbps,
          seed: 5,
          maintenance: true,
          avoidRest: name === 'ferry',
          mode,
        });
      const events = await run('events');
      const stepper = await run('stepper');
      expect(events.reports).toHaveLength(3);
      expect(runDifferences(events, stepper, 1000)).toEqual([]);
    }
  }, 120_000);

  it('finds differences when there are some', async () => {
    const { fleet, source } = drainMixedFleet(3, { vms: 4, heavy: 0 });
    const run = (policy = defaultPolicy) =>
      drainOnSim({
        fleet,
        sources: [source],
        policy,
        physicalCapGbps: 8,
        seed: 3,
        maintenance: false,
        avoidRest: false,
      });
    const a = await run();
    const b = await run({ ...defaultPolicy, downtimeSloMs: 50, downtimeRampStartMs: 50 });
    expect(runDifferences(a, b, 1000).length).toBeGreaterThan(0);
    expect(runDifferences(a, a, 1000)).toEqual([]);
  }, 60_000);
});

describe('the rate bound', () => {
  const host = (name: string) => ({
    name,
    vcpus: 64,
    memoryBytes: 512 * GiB,
    nicBytesPerS: 25 * GBPS,
    cpuModel: 'x',
    az: 'a',
    labels: [],
    schedulable: true,
  });
  const vm = (name: string, memGiB: number, dirtyMiBps: number) => ({
    name,
    host: 'src',
    vcpus: 1,
    memoryBytes: memGiB * GiB,
    migratable: true,
    dirtyBytesPerS: dirtyMiBps * MiB,
  });

  it("is the line rate's for many small quiet VMs, and a big VM's own at the stream cap when it dominates", () => {
    const small = {
      hosts: [host('src'), host('dst')],
      instances: Array.from({ length: 10 }, (_, i) => vm(`vm-${i}`, 4, 0)),
    };
    expect(rateBoundMs(small, ['src'], false, { streamCapGbps: 8, allowPostCopy: false })).toBeCloseTo(
      lineRateBoundMs(small, ['src'], false),
    );
    // 64 GiB at 8 Gb/s is 68.7 s, and a guest dirtying 1 GB/s dirties all of it meanwhile: 137 s.
    const big = { hosts: [host('src'), host('dst')], instances: [vm('db', 64, 2000), vm('b', 4, 0)] };
    const bound = rateBoundMs(big, ['src'], false, { streamCapGbps: 8, allowPostCopy: false });
    expect(bound).toBeCloseTo(((2 * 64 * GiB) / GBPS / 8) * 1000, 0);
    expect(bound).toBeGreaterThan(lineRateBoundMs(big, ['src'], false));
    expect(rateBoundMs(big, ['src'], true, { streamCapGbps: 8, allowPostCopy: false })).toBeCloseTo(
      bound + 60_000,
      0,
    );
    // Where the strategy may post-copy from the first pass, each page goes once: 64 GiB at 8 Gb/s.
    expect(rateBoundMs(big, ['src'], false, { streamCapGbps: 8, allowPostCopy: true })).toBeCloseTo(
      ((64 * GiB) / GBPS / 8) * 1000,
      0,
    );
  });
});
