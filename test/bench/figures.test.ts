import { describe, expect, it } from 'vitest';
import {
  EMPTY_FIGURES,
  formatScenario,
  migrationFigures,
  percentile,
  type ScenarioResult,
  toJson,
} from '../../bench/figures.js';
import { drainMixedFleet, rng, scaleFleet } from '../../bench/fleets.js';
import { selectStrategies } from '../../bench/strategies.js';
import { GiB } from '../../src/engine/model.js';
import type { MigrationFacts, PostMortem } from '../../src/engine/report.js';

const migration = (over: Partial<MigrationFacts>): MigrationFacts => ({
  instance: 'vm-1',
  from: 'hv1',
  to: 'hv2',
  state: 'completed',
  strategy: 'precopy',
  durationMs: 10_000,
  downtimeMs: 100,
  bytesSent: 4 * GiB,
  memoryBytes: 4 * GiB,
  passes: 3,
  prediction: {
    converges: true,
    strategy: 'precopy',
    passes: 3,
    bytesSent: 4 * GiB,
    durationMs: 10_000,
    downtimeMs: 100,
    bandwidthBytesPerS: GiB,
  },
  peakDirtyBytesPerS: 0,
  ...over,
});

const report = (migrations: MigrationFacts[], approvals = 0): PostMortem => ({
  evacuationId: 'evac-1',
  source: 'hv1',
  requestedBy: 'U1',
  outcome: 'completed',
  predictedMakespanMs: 0,
  lowerBoundMs: 0,
  migrations,
  blockers: [],
  stayed: [],
  approvals: Array.from({ length: approvals }, () => ({
    instance: 'vm-1',
    kind: 'postcopy',
    early: false,
    requestedAt: 0,
  })),
  hostReenabled: false,
  recommendations: [],
});

describe('percentiles', () => {
  it('take the nearest rank, so every answer is a value that was measured', () => {
    const values = [40, 10, 30, 20, 50, 60, 70, 80, 90, 100];
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(100);
    expect(percentile(values, 0)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
  });

  it('are null for no values and refuse a percentile outside 0..100', () => {
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe('figures from post-mortems', () => {
  it('count failures, aborts and approvals, and charge wasted bytes to the memory actually moved', () => {
    const figures = migrationFigures([
      report(
        [
          migration({ instance: 'a', downtimeMs: 50 }),
          migration({ instance: 'b', downtimeMs: 300, bytesSent: 8 * GiB }),
          migration({ instance: 'c', state: 'aborted', downtimeMs: undefined, bytesSent: 4 * GiB }),
          migration({ instance: 'd', state: 'failed', downtimeMs: undefined, bytesSent: 0 }),
        ],
        2,
      ),
    ]);
    expect(figures).toEqual({
      failed: 1,
      aborted: 1,
      approvals: 2,
      downtimeP50Ms: 50,
      downtimeP95Ms: 300,
      // (4 + 8 + 4) GiB sent to move a and b (8 GiB).
      bytesRatio: 2,
      migrationsPerVm: 1,
    });
  });

  it('count a VM moved in two campaign steps twice', () => {
    const figures = migrationFigures([
      report([migration({ instance: 'a' }), migration({ instance: 'b' })]),
      report([migration({ instance: 'a' })]),
    ]);
    expect(figures.migrationsPerVm).toBe(1.5);
  });

  it('leave ratios null when nothing moved', () => {
    const figures = migrationFigures([report([migration({ state: 'aborted' })])]);
    expect(figures.bytesRatio).toBeNull();
    expect(figures.migrationsPerVm).toBeNull();
    expect(figures.downtimeP50Ms).toBeNull();
  });
});

describe('the --json document', () => {
  const results: ScenarioResult[] = [
    {
      name: 'drain-mixed',
      strategies: [
        {
          ...EMPTY_FIGURES,
          name: 'ferry',
          makespanS: 233.04,
          lowerBoundS: 160.8036,
          rateBoundS: 171.2345,
          failed: 0,
          aborted: 0,
          approvals: 1,
          downtimeP50Ms: 36.99,
          downtimeP95Ms: 249.38,
          bytesRatio: 1.27541,
        },
      ],
      notes: ['not in the JSON'],
      extra: { columns: ['avoidable failures'], rows: { ferry: ['0'] } },
    },
    {
      name: 'scale-1000',
      strategies: [{ ...EMPTY_FIGURES, name: 'nova', migrationsPerVm: 1.10912, planMs: 361.27 }],
      notes: [],
    },
    {
      name: 'scale-10000',
      strategies: [{ ...EMPTY_FIGURES, name: 'ferry', migrationsPerVm: 1, planMs: 912.4 }],
      notes: [],
      growth: [
        {
          hosts: 1000,
          vms: 40000,
          drainMs: 12.345,
          drainCpuMs: 11.9,
          drainPeakHeapMiB: 31.6,
          campaignMs: 95.4,
          campaignCpuMs: 90.2,
          campaignPeakHeapMiB: 37.2,
        },
      ],
    },
  ];

  it('has exactly the documented keys, with null for every figure that does not apply', () => {
    const doc = toJson(results);
    expect(Object.keys(doc)).toEqual(['scenarios']);
    expect(doc.scenarios.map((s) => Object.keys(s))).toEqual([
      ['name', 'strategies'],
      ['name', 'strategies'],
      ['name', 'growth', 'strategies'],
    ]);
    expect(doc.scenarios[2]!.growth).toEqual([
      {
        hosts: 1000,
        vms: 40000,
        drainMs: 12.3,
        drainCpuMs: 11.9,
        drainPeakHeapMiB: 32,
        campaignMs: 95,
        campaignCpuMs: 90,
        campaignPeakHeapMiB: 37,
      },
    ]);
    expect(doc.scenarios[0]!.strategies[0]).toEqual({
      name: 'ferry',
      makespanS: 233,
      lowerBoundS: 160.8,
      rateBoundS: 171.2,
      failed: 0,
      aborted: 0,
      approvals: 1,
      downtimeP50Ms: 37,
      downtimeP95Ms: 249,
      bytesRatio: 1.275,
      migrationsPerVm: null,
      planMs: null,
    });
    expect(doc.scenarios[1]!.strategies[0]).toEqual({
      name: 'nova',
      makespanS: null,
      lowerBoundS: null,
      rateBoundS: null,
      failed: null,
      aborted: null,
      approvals: null,
      downtimeP50Ms: null,
      downtimeP95Ms: null,
      bytesRatio: null,
      migrationsPerVm: 1.109,
      planMs: 361.3,
    });
    // One document: it survives a round trip unchanged.
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('renders as a table showing only the columns that apply, with the ratios to both bounds', () => {
    const table = formatScenario(results[0]!);
    expect(table).toContain('### drain-mixed (lower bound 161 s, rate bound 171 s)');
    // Strategies that may post-copy have a lower rate bound than those that may not: each named.
    const nova = { ...results[0]!.strategies[0]!, name: 'nova', rateBoundS: 180.4 };
    const both = formatScenario({ ...results[0]!, strategies: [results[0]!.strategies[0]!, nova] });
    expect(both).toContain('### drain-mixed (lower bound 161 s, rate bound 171 s (ferry), 180 s (nova))');
    expect(table).toContain('| ferry | 233 | 1.45× | 1.36× | 0 / 0 | 1 | 37 / 249 | 1.28 | 0 |');
    expect(table).not.toContain('plan ms');
    expect(formatScenario(results[1]!)).not.toContain('makespan');
    expect(formatScenario(results[1]!)).not.toContain('| hosts |');
    expect(formatScenario(results[2]!)).toContain('| 1000 | 40000 | 12 (12) | 32 | 95 (90) | 37 |');
  });
});

describe('bench helpers', () => {
  it('generate the same fleet from the same seed, and another from another seed', () => {
    expect(drainMixedFleet(7)).toEqual(drainMixedFleet(7));
    expect(drainMixedFleet(7)).not.toEqual(drainMixedFleet(8));
    const random = rng(1);
    const draws = Array.from({ length: 1000 }, random);
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
  });

  it('generate a region whose anti-affinity groups the initial placement already honours', () => {
    const region = scaleFleet(3, { hosts: 50, vmsPerHost: 40 });
    const grouped = region.instances.filter((i) => i.antiAffinityGroup !== undefined);
    expect(grouped.length / region.instances.length).toBeGreaterThan(0.02);
    const seen = new Set(grouped.map((i) => `${i.antiAffinityGroup}@${i.host}`));
    expect(seen.size).toBe(grouped.length);
    expect(new Set(grouped.map((i) => i.antiAffinityGroup)).size).toBeLessThan(grouped.length);
  });

  it('select strategies by name and name the known ones when one is unknown', () => {
    expect(selectStrategies().map((s) => s.name)).toEqual(['ferry', 'nova', 'kubevirt', 'all-at-once']);
    expect(selectStrategies(['nova']).map((s) => s.name)).toEqual(['nova']);
    expect(() => selectStrategies(['ovirt'])).toThrow(/ferry, nova, kubevirt, all-at-once/);
  });
});
