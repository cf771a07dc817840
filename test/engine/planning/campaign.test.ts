import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../../src/engine/errors.js';
import type { Fleet, Instance } from '../../../src/engine/model.js';
import {
  type CampaignPlan,
  hostsWithLabel,
  planCampaign,
  planCampaignNaive,
} from '../../../src/engine/planning/index.js';
import { fleet, host, usage, vm } from './fleet.js';

// 14 VMs, 184 GiB of 256 (72 %), 24 of 64 vCPUs per loaded host.
const SIZES = [32, 32, 16, 16, 16, 16, 8, 8, 8, 8, 8, 8, 4, 4];

/** `loaded` hosts at ~70 % and `spare` empty ones, 256 GiB each; the first VM of each host in one of four anti-affinity groups. */
function rack(loaded: number, spare: number, over: (h: number) => object = () => ({})): Fleet {
  const total = loaded + spare;
  const hosts = Array.from({ length: total }, (_, h) =>
    host(`h${String(h + 1).padStart(2, '0')}`, { labels: h % 2 === 0 ? ['rack-a'] : [], ...over(h) }),
  );
  const instances: Instance[] = [];
  for (let h = 0; h < loaded; h++) {
    SIZES.forEach((gib, v) => {
      instances.push(
        vm(`vm-${h + 1}-${v}`, hosts[h]!.name, gib, {
          vcpus: Math.max(1, gib / 8),
          antiAffinityGroup: v === 0 ? `aa-${h % 4}` : undefined,
        }),
      );
    });
  }
  return fleet(hosts, instances);
}

const names = (f: Fleet) => f.hosts.map((h) => h.name);

/**
 * Replays a campaign step by step and checks, after each step, that no host is over its memory or
 * vCPUs, no two members of an anti-affinity group share a host, nothing landed on a host drained
 * in the same step, and the step's hosts are empty of every VM that could move.
 */
function replay(f: Fleet, plan: CampaignPlan): void {
  const location = new Map<string, string>();
  const stuck = new Set(plan.blockers.map((b) => b.instance));
  const capacity = new Map(f.hosts.map((h) => [h.name, h]));
  for (const step of plan.steps) {
    const draining = new Set(step.hosts);
    for (const p of step.placements) {
      expect(p.from).toBe(location.get(p.instance) ?? f.instances.find((i) => i.name === p.instance)!.host);
      expect(draining.has(p.to)).toBe(false);
      location.set(p.instance, p.to);
    }
    for (const [name, used] of usage(f, location)) {
      expect(used.memoryBytes).toBeLessThanOrEqual(capacity.get(name)!.memoryBytes);
      expect(used.vcpus).toBeLessThanOrEqual(capacity.get(name)!.vcpus);
    }
    const groups = new Set<string>();
    for (const i of f.instances) {
      const where = location.get(i.name) ?? i.host;
      if (draining.has(where)) expect(stuck.has(i.name)).toBe(true);
      if (!i.antiAffinityGroup) continue;
      const key = `${i.antiAffinityGroup}@${where}`;
      expect(groups.has(key)).toBe(false);
      groups.add(key);
    }
  }
}

describe('rolling maintenance campaigns', () => {
  it('moves every VM once when one host’s worth of capacity is spare; the naive order moves many twice', () => {
    const f = rack(15, 1);
    const ferry = planCampaign(f, names(f));
    const naive = planCampaignNaive(f, names(f));
    expect(ferry.migrationsPerVm).toBeLessThanOrEqual(1.05);
    expect(naive.migrationsPerVm).toBeGreaterThan(1.05);
    expect(ferry.steps).toHaveLength(16);
    expect(ferry.steps.flatMap((s) => s.placements)).toHaveLength(15 * SIZES.length);
    expect(ferry.blockers).toEqual([]);
    replay(f, ferry);
    replay(f, naive);
  });

  it('drains the empty host first, then lands each host’s VMs on hosts already maintained', () => {
    const f = rack(15, 1);
    const plan = planCampaign(f, names(f));
    expect(plan.steps[0]).toEqual({ hosts: ['h16'], placements: [] });
    const maintained = new Set<string>();
    for (const step of plan.steps) {
      for (const p of step.placements) expect(maintained.has(p.to)).toBe(true);
      for (const h of step.hosts) maintained.add(h);
    }
  });

  it('treats hosts outside the campaign as spare capacity', () => {
    const f = rack(15, 1);
    const plan = planCampaign(
      f,
      names(f).filter((n) => n !== 'h16'),
    );
    expect(plan.migrationsPerVm).toBe(1);
    expect(plan.steps[0]!.placements.every((p) => p.to === 'h16')).toBe(true);
    replay(f, plan);
  });

  it('drains several hosts per step when asked, still moving each VM once', () => {
    const f = rack(14, 2);
    const plan = planCampaign(f, names(f), { parallel: 2 });
    expect(plan.steps).toHaveLength(8);
    for (const step of plan.steps) expect(step.hosts).toHaveLength(2);
    expect(plan.migrationsPerVm).toBeLessThanOrEqual(1.05);
    replay(f, plan);
  });

  it('without spare capacity, moves twice only the VMs of the first host drained', () => {
    const f = rack(16, 0);
    const plan = planCampaign(f, names(f));
    const vms = 16 * SIZES.length;
    expect(plan.steps.flatMap((s) => s.placements).length).toBeLessThanOrEqual(vms + SIZES.length);
    expect(plan.migrationsPerVm).toBeLessThan(planCampaignNaive(f, names(f)).migrationsPerVm);
    replay(f, plan);
  });

  it('keeps each VM on its cpuModel through the campaign', () => {
    const f = rack(15, 1, (h) => ({ cpuModel: h % 2 === 0 ? 'Cascadelake' : 'Icelake' }));
    const model = new Map(f.hosts.map((h) => [h.name, h.cpuModel]));
    const plan = planCampaign(f, names(f));
    for (const p of plan.steps.flatMap((s) => s.placements)) expect(model.get(p.to)).toBe(model.get(p.from));
    replay(f, plan);
  });

  it('reports once a VM that cannot leave its host, and goes on with the rest', () => {
    const f = rack(3, 1);
    f.instances[0] = { ...f.instances[0]!, migratable: false, notMigratableReason: 'uses local NVMe' };
    const plan = planCampaign(f, names(f));
    expect(plan.blockers).toEqual([
      { instance: 'vm-1-0', code: 'not-migratable', reason: 'uses local NVMe' },
    ]);
    expect(plan.steps.flatMap((s) => s.placements)).toHaveLength(3 * SIZES.length - 1);
    replay(f, plan);
  });

  it('selects the hosts of a campaign by label', () => {
    expect(hostsWithLabel(rack(4, 0), 'rack-a')).toEqual(['h01', 'h03']);
  });

  it('refuses unknown or repeated hosts and a parallelism below one', () => {
    const f = rack(2, 0);
    expect(() => planCampaign(f, ['h01', 'h09'])).toThrow(NotFoundError);
    expect(() => planCampaign(f, ['h01', 'h01'])).toThrow(/h01 is listed twice/);
    expect(() => planCampaign(f, ['h01'], { parallel: 0 })).toThrow(InputError);
    expect(() => planCampaign(f, [])).toThrow(InputError);
  });
});
