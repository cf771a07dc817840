import type { Blocker, Fleet, Host, Instance } from '../model.js';
import { formatBytes } from '../words.js';
import { IndexedHeap } from './heap.js';

/**
 * The destinations a planner may use, indexed so that one placement costs O(log hosts) instead
 * of a scan of the fleet. Hosts are grouped by compatibility class (cpuModel × AZ); each class
 * holds one heap per tier, ordered by free memory (most first, ties by name). A campaign uses two
 * tiers (hosts already maintained or outside the campaign, then hosts still to be maintained);
 * a drain uses one. Free vCPUs and anti-affinity are checked while walking a heap best-first,
 * which skips only the few hosts that fail them.
 */

/** One instance leaving one host for another. */
export interface Placement {
  instance: string;
  from: string;
  to: string;
}

const NONE = '\u0001';

interface HostClass {
  cpuModel?: string;
  az?: string;
}

export class HostPool {
  readonly hosts: readonly Host[];
  readonly instances: readonly Instance[];
  readonly hostIndex = new Map<string, number>();
  /** Host index each instance is on now (-1 when its host is not in the fleet). */
  readonly location: Int32Array;
  readonly freeMem: Float64Array;
  readonly freeCpu: Float64Array;
  /** Instances on each host (indices), built on first use: a drain never needs it. */
  private table: number[][] | undefined;
  private readonly groupOf: Int32Array;
  private readonly groups: HostClass[] = [];
  private readonly heaps: IndexedHeap[][];
  private readonly tierOf: Int32Array;
  private readonly pos: Int32Array;
  /** Per tier and group: free memory and vCPUs summed (negatives count as 0). */
  private readonly sumMem: Float64Array[];
  private readonly sumCpu: Float64Array[];
  /** Anti-affinity group -> host -> members on that host. */
  private readonly affinity = new Map<string, Map<number, number>>();
  /** The instance `choose` is placing; the two predicates read it (no closure per call on a hot path). */
  private wanted: Instance | undefined;
  private readonly tooSmall = (h: number) => this.freeMem[h]! < this.wanted!.memoryBytes;
  private readonly fits = (h: number) => {
    const inst = this.wanted!;
    return (
      this.freeCpu[h]! >= inst.vcpus &&
      !(inst.antiAffinityGroup !== undefined && this.affinity.get(inst.antiAffinityGroup)?.has(h))
    );
  };
  /** Compatibility classes: the destination groups open to instances of a source class. */
  private readonly classes: number[][] = [];
  private readonly classIds = new Map<string, number>();
  /** Class of each host as a source (-1: not computed yet). */
  private readonly classOfHost: Int32Array;
  /** Called after a host's free capacity changed (a campaign's queue of hosts keeps its order with it). */
  onChange: ((host: number) => void) | undefined;

  constructor(fleet: Fleet, tierCount: number) {
    this.hosts = fleet.hosts;
    this.instances = fleet.instances;
    const n = fleet.hosts.length;
    this.freeMem = new Float64Array(n);
    this.freeCpu = new Float64Array(n);
    this.groupOf = new Int32Array(n);
    this.tierOf = new Int32Array(n).fill(-1);
    this.pos = new Int32Array(n).fill(-1);
    this.classOfHost = new Int32Array(n).fill(-1);
    const groupIds = new Map<string, number>();
    fleet.hosts.forEach((h, i) => {
      this.hostIndex.set(h.name, i);
      this.freeMem[i] = h.memoryBytes;
      this.freeCpu[i] = h.vcpus;
      const key = `${h.cpuModel ?? NONE}\0${h.az ?? NONE}`;
      let g = groupIds.get(key);
      if (g === undefined) {
        g = this.groups.length;
        groupIds.set(key, g);
        this.groups.push({ cpuModel: h.cpuModel, az: h.az });
      }
      this.groupOf[i] = g;
    });
    this.location = new Int32Array(fleet.instances.length).fill(-1);
    // One pass over the instances and nothing per instance but its host's index: no index by
    // name (400,000 names hashed into a Map cost more than all the rest of a drain's planning;
    // `findInstance` finds the few a plan names) and no resident lists until asked for. An
    // inventory lists a host's instances together, so the last host looked up is tried first.
    let lastName: string | undefined;
    let last = -1;
    fleet.instances.forEach((inst, i) => {
      let h = last;
      if (inst.host !== lastName) {
        h = this.hostIndex.get(inst.host) ?? -1;
        lastName = inst.host;
        last = h;
      }
      if (h < 0) return;
      this.location[i] = h;
      this.freeMem[h] = this.freeMem[h]! - inst.memoryBytes;
      this.freeCpu[h] = this.freeCpu[h]! - inst.vcpus;
      if (inst.antiAffinityGroup) this.bump(inst.antiAffinityGroup, h, 1);
    });
    this.heaps = Array.from({ length: tierCount }, () =>
      this.groups.map(() => new IndexedHeap(this.better, this.pos)),
    );
    this.sumMem = Array.from({ length: tierCount }, () => new Float64Array(this.groups.length));
    this.sumCpu = Array.from({ length: tierCount }, () => new Float64Array(this.groups.length));
  }

  /** Index of the instance of that name (a scan: plans name few instances). */
  findInstance(name: string): number | undefined {
    const i = this.instances.findIndex((inst) => inst.name === name);
    return i < 0 ? undefined : i;
  }

  /** Instances on each host now (indices, in fleet order, then in the order they arrived). */
  get residents(): number[][] {
    if (!this.table) {
      const table: number[][] = Array.from({ length: this.hosts.length }, () => []);
      this.location.forEach((h, i) => {
        if (h >= 0) table[h]!.push(i);
      });
      this.table = table;
    }
    return this.table;
  }

  /** Instances on the given hosts now, host by host in the order given: one scan, no table. */
  residentsOf(hosts: readonly number[]): number[] {
    if (this.table) return hosts.flatMap((h) => this.table![h]!);
    const slot = new Int32Array(this.hosts.length).fill(-1);
    const on = hosts.map((h, k) => {
      slot[h] = k;
      return [] as number[];
    });
    this.location.forEach((h, i) => {
      if (h >= 0 && slot[h]! >= 0) on[slot[h]!]!.push(i);
    });
    return on.flat();
  }

  /** Makes a host a destination of the given tier. */
  enlist(host: number, tier: number): void {
    if (this.tierOf[host]! >= 0) this.delist(host);
    this.tierOf[host] = tier;
    this.heaps[tier]![this.groupOf[host]!]!.push(host);
    this.count(host, 1);
  }

  /** Stops a host from receiving instances. */
  delist(host: number): void {
    const tier = this.tierOf[host]!;
    if (tier < 0) return;
    this.count(host, -1);
    this.heaps[tier]![this.groupOf[host]!]!.remove(host);
    this.tierOf[host] = -1;
  }

  /**
   * The best destination for an instance: the first tier with room wins; inside a tier, the
   * compatible host with the most free memory (ties by name) that also has the vCPUs and holds
   * no member of the instance's anti-affinity group.
   */
  choose(instance: number, tiers: readonly number[]): number | undefined {
    this.wanted = this.instances[instance]!;
    const groups = this.compatibleGroups(this.location[instance]!);
    for (const tier of tiers) {
      let best: number | undefined;
      for (const g of groups) {
        const h = this.heaps[tier]![g]!.find(this.tooSmall, this.fits);
        if (h !== undefined && (best === undefined || this.better(h, best))) best = h;
      }
      if (best !== undefined) return best;
    }
    return undefined;
  }

  /** Moves an instance to `to`, keeping free capacity, anti-affinity and heap order current. */
  move(instance: number, to: number): void {
    const inst = this.instances[instance]!;
    const from = this.location[instance]!;
    if (from >= 0) {
      this.adjust(from, inst.memoryBytes, inst.vcpus);
      if (inst.antiAffinityGroup) this.bump(inst.antiAffinityGroup, from, -1);
    }
    this.adjust(to, -inst.memoryBytes, -inst.vcpus);
    if (inst.antiAffinityGroup) this.bump(inst.antiAffinityGroup, to, 1);
    this.location[instance] = to;
    this.table?.[to]?.push(instance);
  }

  /** Compatibility class of a source host: hosts of one class can send VMs to the same groups. */
  classOf(source: number): number {
    let c = this.classOfHost[source]!;
    if (c >= 0) return c;
    const host = this.hosts[source]!;
    const key = `${host.cpuModel ?? NONE}\0${host.az ?? NONE}`;
    c = this.classIds.get(key) ?? -1;
    if (c < 0) {
      c = this.classes.length;
      this.classIds.set(key, c);
      this.classes.push(
        this.groups.flatMap((g, i) =>
          (host.cpuModel === undefined || g.cpuModel === host.cpuModel) &&
          (host.az === undefined || g.az === host.az)
            ? [i]
            : [],
        ),
      );
    }
    this.classOfHost[source] = c;
    return c;
  }

  /** Free memory and vCPUs summed over the destinations of `tier` open to a compatibility class. */
  freeFor(cls: number, tier: number): { memoryBytes: number; vcpus: number } {
    let memoryBytes = 0;
    let vcpus = 0;
    for (const g of this.classes[cls]!) {
      memoryBytes += this.sumMem[tier]![g]!;
      vcpus += this.sumCpu[tier]![g]!;
    }
    return { memoryBytes, vcpus };
  }

  /** Why no destination of `tiers` takes the instance, in an operator's words. */
  diagnose(instance: number, tiers: readonly number[]): Blocker {
    const inst = this.instances[instance]!;
    const source = this.hosts[this.location[instance]!]!;
    const groups = this.compatibleGroups(this.location[instance]!);
    const nonEmpty = (g: number) => tiers.some((t) => this.heaps[t]![g]!.size > 0);
    const where = describeClass(source);
    if (source.cpuModel !== undefined) {
      const sameCpu = this.groups.some((c, g) => c.cpuModel === source.cpuModel && nonEmpty(g));
      if (!sameCpu)
        return {
          instance: inst.name,
          code: 'cpu-model',
          reason: `no schedulable host with cpuModel ${source.cpuModel} other than ${source.name}`,
        };
    }
    if (!groups.some(nonEmpty))
      return {
        instance: inst.name,
        code: 'availability-zone',
        reason: `no schedulable host${where} other than ${source.name}`,
      };
    const hopeless = (h: number) => this.freeMem[h]! < inst.memoryBytes;
    const roomy = (h: number) => this.freeCpu[h]! >= inst.vcpus;
    const room = tiers.some((t) =>
      groups.some((g) => this.heaps[t]![g]!.find(hopeless, roomy) !== undefined),
    );
    if (room && inst.antiAffinityGroup)
      return {
        instance: inst.name,
        code: 'anti-affinity',
        reason: `every host${where} with room for it already runs a member of anti-affinity group ${inst.antiAffinityGroup}`,
      };
    return {
      instance: inst.name,
      code: 'no-capacity',
      reason: `no host with ${formatBytes(inst.memoryBytes)} and ${inst.vcpus} vCPUs free${where}`,
    };
  }

  /** More free memory first; ties by name, then by index (hosts of one name, as a sort keeps them). */
  private readonly better = (a: number, b: number): boolean => {
    const x = this.freeMem[a]!;
    const y = this.freeMem[b]!;
    if (x !== y) return x > y;
    const p = this.hosts[a]!.name;
    const q = this.hosts[b]!.name;
    return p !== q ? p < q : a < b;
  };

  /** Destination groups an instance on `source` may use: same cpuModel and AZ when the source has them. */
  private compatibleGroups(source: number): number[] {
    return this.classes[this.classOf(source)]!;
  }

  private adjust(host: number, memoryBytes: number, vcpus: number): void {
    const listed = this.tierOf[host]! >= 0;
    if (listed) this.count(host, -1);
    this.freeMem[host] = this.freeMem[host]! + memoryBytes;
    this.freeCpu[host] = this.freeCpu[host]! + vcpus;
    if (listed) {
      this.count(host, 1);
      this.heaps[this.tierOf[host]!]![this.groupOf[host]!]!.update(host);
    }
    this.onChange?.(host);
  }

  private count(host: number, sign: 1 | -1): void {
    const tier = this.tierOf[host]!;
    const g = this.groupOf[host]!;
    this.sumMem[tier]![g] = this.sumMem[tier]![g]! + sign * Math.max(0, this.freeMem[host]!);
    this.sumCpu[tier]![g] = this.sumCpu[tier]![g]! + sign * Math.max(0, this.freeCpu[host]!);
  }

  private bump(group: string, host: number, by: number): void {
    let hosts = this.affinity.get(group);
    if (!hosts) {
      hosts = new Map();
      this.affinity.set(group, hosts);
    }
    const n = (hosts.get(host) ?? 0) + by;
    if (n > 0) hosts.set(host, n);
    else hosts.delete(host);
  }
}

/** " in az1 with cpuModel Cascadelake", " in az1", " with cpuModel X" or "". */
export function describeClass(host: HostClass): string {
  return (host.az ? ` in ${host.az}` : '') + (host.cpuModel ? ` with cpuModel ${host.cpuModel}` : '');
}

/** Code-point order, so ties break the same way on every machine and locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
