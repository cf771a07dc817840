import { type Fleet, GBPS, GiB, type Host, type Instance, MiB } from '../src/engine/model.js';

/**
 * The bench's fleets, generated from a seed so every strategy sees the same fleet in one run and
 * two runs with the same seed see the same numbers. Sizes and dirty rates are drawn from small
 * weighted tables that look like a general-purpose cloud: mostly quiet guests, some busy ones,
 * a few heavy writers (databases, caches) that cannot converge on a shared link.
 */

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One value of a weighted table. */
export function pick<T>(random: () => number, table: readonly (readonly [T, number])[]): T {
  const total = table.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [value, weight] of table) {
    r -= weight;
    if (r < 0) return value;
  }
  return table[table.length - 1]![0];
}

const SIZES_GIB: readonly (readonly [number, number])[] = [
  [2, 6],
  [4, 8],
  [8, 8],
  [16, 6],
  [32, 3],
  [64, 1],
];

/** Dirty rates of ordinary guests, MiB/s (the heavy writers are drawn apart). */
const QUIET_DIRTY_MIBPS: readonly (readonly [number, number])[] = [
  [5, 6],
  [10, 6],
  [20, 4],
  [40, 3],
  [80, 3],
  [150, 2],
  [250, 1],
];

/** Heavy writers' dirty rates, MiB/s: above a shared link's share, some above one stream's cap. */
const HEAVY_DIRTY_MIBPS: readonly (readonly [number, number])[] = [
  [600, 1],
  [900, 1],
  [1200, 1],
];

const vcpusFor = (memGiB: number) => Math.max(1, Math.min(16, memGiB / 4));

function host(name: string, memoryGiB: number, nicGbps: number, vcpus = 192): Host {
  return {
    name,
    vcpus,
    memoryBytes: memoryGiB * GiB,
    nicBytesPerS: nicGbps * GBPS,
    cpuModel: 'Cascadelake',
    az: 'az1',
    labels: [],
    schedulable: true,
  };
}

function instance(name: string, on: string, memGiB: number, dirtyMiBps: number): Instance {
  return {
    name,
    host: on,
    vcpus: vcpusFor(memGiB),
    memoryBytes: memGiB * GiB,
    migratable: true,
    dirtyBytesPerS: dirtyMiBps * MiB,
  };
}

export interface DrainFleet {
  fleet: Fleet;
  source: string;
}

/**
 * drain-mixed: one 25 Gb/s host carrying `vms` guests of 2-64 GiB, `heavy` of them heavy writers,
 * and nine empty-enough destinations on the same fabric.
 */
export function drainMixedFleet(seed: number, options: { vms?: number; heavy?: number } = {}): DrainFleet {
  const random = rng(seed);
  const vms = options.vms ?? 40;
  const heavy = options.heavy ?? 3;
  const source = 'cmp-001';
  const hosts = [host(source, 1536, 25)];
  for (let i = 2; i <= 10; i++) hosts.push(host(`cmp-${String(i).padStart(3, '0')}`, 768, 25));
  const instances: Instance[] = [];
  for (let i = 1; i <= vms; i++) {
    const heavyWriter = i <= heavy;
    // Heavy writers are databases: at least 8 GiB.
    const memGiB = heavyWriter ? Math.max(8, pick(random, SIZES_GIB)) : pick(random, SIZES_GIB);
    const dirty = pick(random, heavyWriter ? HEAVY_DIRTY_MIBPS : QUIET_DIRTY_MIBPS);
    const name = `${heavyWriter ? 'db' : 'vm'}-${String(i).padStart(2, '0')}`;
    instances.push(instance(name, source, memGiB, dirty));
  }
  return { fleet: { hosts, instances }, source };
}

export interface CampaignFleet {
  fleet: Fleet;
  /** The hosts to maintain, in name order (the naive campaign's order). */
  campaign: string[];
}

/**
 * A rolling-campaign fleet: `hosts` hosts filled to about `load` of their memory with quiet and
 * busy guests (no heavy writers: this scenario is about where VMs land), plus `spare` empty
 * hosts outside the campaign — one host's worth of spare capacity by default.
 */
export function campaignFleet(
  seed: number,
  options: { hosts: number; load: number; spare?: number; hostMemoryGiB?: number; nicGbps?: number },
): CampaignFleet {
  const random = rng(seed);
  const memGiB = options.hostMemoryGiB ?? 512;
  const width = String(options.hosts + (options.spare ?? 1)).length;
  const name = (i: number) => `hv-${String(i).padStart(Math.max(3, width), '0')}`;
  const hosts: Host[] = [];
  const instances: Instance[] = [];
  const campaign: string[] = [];
  let vm = 0;
  for (let h = 1; h <= options.hosts; h++) {
    const hostName = name(h);
    hosts.push(host(hostName, memGiB, options.nicGbps ?? 25));
    campaign.push(hostName);
    // Fill to the load, ±10 % host to host so the hosts differ.
    const target = memGiB * options.load * (0.9 + 0.2 * random());
    let used = 0;
    for (;;) {
      const size = pick(random, SIZES_GIB);
      if (used + size > target) break;
      used += size;
      vm++;
      instances.push(
        instance(`vm-${String(vm).padStart(5, '0')}`, hostName, size, pick(random, QUIET_DIRTY_MIBPS)),
      );
    }
  }
  for (let s = 1; s <= (options.spare ?? 1); s++)
    hosts.push(host(name(options.hosts + s), memGiB, options.nicGbps ?? 25));
  return { fleet: { hosts, instances }, campaign };
}

/**
 * scale-1000 and scale-10000: `hosts` hosts with `vmsPerHost` guests each (40,000 on 1,000 hosts
 * by default), at about 60 % of their memory on average, on two CPU models and two AZs, so
 * placement works through compatibility classes as in a real region; about 5 % of the guests are
 * in anti-affinity groups of 2 to 5 (server groups), drawn from a generator of their own so the
 * sizes and rates stay those of the same seed before groups existed.
 */
export function scaleFleet(seed: number, options: { hosts?: number; vmsPerHost?: number } = {}): Fleet {
  const random = rng(seed);
  const grouping = rng(seed ^ 0x5eed);
  const count = options.hosts ?? 1000;
  const perHost = options.vmsPerHost ?? 40;
  let groups = 0;
  let open: { name: string; left: number; host: number } | undefined;
  const hosts: Host[] = [];
  const instances: Instance[] = [];
  for (let h = 0; h < count; h++) {
    const name = `node-${String(h + 1).padStart(4, '0')}`;
    hosts.push({
      ...host(name, 768, 25, 256),
      cpuModel: h % 4 === 3 ? 'Icelake' : 'Cascadelake',
      az: h % 2 === 0 ? 'az1' : 'az2',
    });
    for (let v = 0; v < perHost; v++) {
      const i = h * perHost + v + 1;
      const vm = instance(
        `vm-${String(i).padStart(6, '0')}`,
        name,
        pick(random, SIZES_GIB),
        pick(random, QUIET_DIRTY_MIBPS),
      );
      // A group's members are created on different hosts, as a scheduler honouring it would.
      if (open && open.left > 0 && open.host !== h && grouping() < 0.5) {
        vm.antiAffinityGroup = open.name;
        open.left--;
        open.host = h;
      } else if (grouping() < 0.015) {
        open = { name: `sg-${++groups}`, left: 1 + Math.floor(grouping() * 4), host: h };
        vm.antiAffinityGroup = open.name;
      }
      instances.push(vm);
    }
  }
  return { hosts, instances };
}
