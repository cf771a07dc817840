import { describe, expect, it } from 'vitest';
import { pick, rng } from '../../../bench/fleets.js';
import { defaultPolicy } from '../../../src/engine/config.js';
import { type Fleet, GiB, type Host, type Instance } from '../../../src/engine/model.js';
import {
  placeInstances,
  planCampaign,
  planCampaignNaive,
  planEvacuation,
  planMigration,
} from '../../../src/engine/planning/index.js';
import { host, vm } from './fleet.js';
import { referenceCampaign, referencePlacement } from './reference-planner.js';

/**
 * The indexed planner (heaps by compatibility class and free capacity) against the same rules
 * written as plain scans (reference-planner.ts), on seeded generated fleets built to make the
 * rules bite: few sizes (ties in free memory, broken by name), tight capacity, vCPUs that run
 * out before memory, anti-affinity groups, disabled hosts, CPU models and AZs that leave some VMs
 * nowhere to go, VMs that cannot move. A failure names its seed, so it replays.
 */

const SEEDS = Array.from({ length: 60 }, (_, i) => i + 1);

function generated(seed: number): Fleet {
  const random = rng(seed);
  const hosts: Host[] = [];
  const instances: Instance[] = [];
  const count = 3 + Math.floor(random() * 18);
  const models = pick(random, [
    [[undefined], 2],
    [['A', 'B'], 2],
    [['A', 'B', undefined], 1],
  ] as const);
  const zones = pick(random, [
    [[undefined], 2],
    [['az1', 'az2'], 2],
  ] as const);
  for (let h = 0; h < count; h++) {
    // Names out of index order, so name ties are not index ties.
    const name = `h${String((h * 7) % count).padStart(2, '0')}-${h}`;
    hosts.push(
      host(name, {
        vcpus: pick(random, [
          [16, 1],
          [32, 2],
          [64, 2],
        ]),
        memoryBytes:
          pick(random, [
            [64, 1],
            [128, 2],
            [256, 1],
          ]) * GiB,
        cpuModel: models[Math.floor(random() * models.length)],
        az: zones[Math.floor(random() * zones.length)],
        schedulable: random() > 0.1,
      }),
    );
    const vms = Math.floor(random() * 12);
    for (let v = 0; v < vms; v++) {
      instances.push(
        vm(
          `vm-${h}-${v}`,
          name,
          pick(random, [
            [4, 3],
            [8, 3],
            [16, 2],
            [32, 1],
          ] as const),
          {
            vcpus: pick(random, [
              [1, 2],
              [2, 2],
              [4, 2],
              [8, 1],
            ] as const),
            antiAffinityGroup: random() < 0.25 ? `aa-${Math.floor(random() * 3)}` : undefined,
            migratable: random() > 0.05,
            notMigratableReason: random() < 0.5 ? 'PCI passthrough' : undefined,
          },
        ),
      );
    }
  }
  return { hosts, instances };
}

const names = (f: Fleet) => f.hosts.map((h) => h.name);

function shuffled<T>(random: () => number, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('the indexed planner makes the plans of the plain rules', () => {
  it.each(SEEDS)('placement of a drain, seed %i (with hosts to avoid and others draining)', (seed) => {
    const f = generated(seed);
    const random = rng(seed * 31);
    const order = shuffled(random, names(f));
    const sources = order.slice(0, 1 + Math.floor(random() * 2));
    const avoid = order.slice(3, 3 + Math.floor(random() * 3));
    const draining = order.slice(6, 6 + Math.floor(random() * 2));
    for (const options of [{}, { avoid }, { avoid, draining }])
      expect(placeInstances(f, sources, options)).toEqual(referencePlacement(f, sources, options));
  });

  it.each(SEEDS)('placement of chosen VMs and a one-VM migration plan, seed %i', (seed) => {
    const f = generated(seed);
    const source = f.instances[0]?.host;
    if (!source) return;
    const chosen = f.instances.filter((i) => i.host === source).map((i) => i.name);
    const some = chosen.filter((_, k) => k % 2 === 0);
    expect(placeInstances(f, [source], { instances: some })).toEqual(
      referencePlacement(f, [source], { instances: some }),
    );
    const one = referencePlacement(f, [source], { instances: [chosen[0]!] });
    const plan = planMigration(f, chosen[0]!, defaultPolicy);
    expect(plan.moves.map((m) => ({ instance: m.instance, from: m.from, to: m.to }))).toEqual(one.placements);
    expect(plan.blockers).toEqual(one.blockers);
  });

  it.each(SEEDS)('an evacuation plan moves what the plain placement moves, seed %i', (seed) => {
    const f = generated(seed);
    const source = names(f)[seed % f.hosts.length]!;
    const plan = planEvacuation(f, source, defaultPolicy, { now: 0 });
    const reference = referencePlacement(f, [source]);
    const placed = (ps: { instance: string; from: string; to: string }[]) =>
      ps.map((p) => `${p.instance}:${p.from}>${p.to}`).sort();
    expect(placed(plan.moves)).toEqual(placed(reference.placements));
    expect(plan.blockers).toEqual(reference.blockers);
  });

  it.each(SEEDS)('campaigns, ferry and naive, 1 to 3 hosts per step, seed %i', (seed) => {
    const f = generated(seed);
    const random = rng(seed * 17);
    const hosts = shuffled(random, names(f)).slice(0, Math.max(1, Math.floor(random() * f.hosts.length) + 1));
    for (const parallel of [1, 2, 3]) {
      expect(planCampaign(f, hosts, { parallel })).toEqual(referenceCampaign(f, hosts, parallel));
      expect(planCampaignNaive(f, hosts, { parallel })).toEqual(referenceCampaign(f, hosts, parallel, true));
    }
  });
});
