import type { Blocker, Fleet, Host, Instance } from '../../../src/engine/model.js';
import type { CampaignPlan, Placement, PlacementResult } from '../../../src/engine/planning/index.js';
import { describeClass } from '../../../src/engine/planning/pool.js';
import { formatBytes } from '../../../src/engine/words.js';

/**
 * The planner's rules written the plain way, as the oracle of the indexed planner's property
 * tests: every choice scans every host, nothing is indexed or cached, so each rule reads as
 * the module comments of placement.ts and campaign.ts state it. Quadratic; small fleets only.
 */

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Where every instance is, and what each host has free, as the plan moves instances. */
class Ledger {
  readonly where = new Map<Instance, Host | undefined>();
  readonly freeMem = new Map<Host, number>();
  readonly freeCpu = new Map<Host, number>();
  /** Destination tier of each host (absent: not a destination). */
  readonly tier = new Map<Host, number>();

  constructor(readonly fleet: Fleet) {
    for (const h of fleet.hosts) {
      this.freeMem.set(h, h.memoryBytes);
      this.freeCpu.set(h, h.vcpus);
    }
    for (const i of fleet.instances) {
      const h = this.host(i.host);
      this.where.set(i, h);
      if (h) this.add(h, i, -1);
    }
  }

  /** The last host of that name, as the planner's name index keeps it. */
  host(name: string): Host | undefined {
    return this.fleet.hosts.filter((h) => h.name === name).pop();
  }

  on(h: Host): Instance[] {
    return this.fleet.instances.filter((i) => this.where.get(i) === h);
  }

  move(i: Instance, to: Host): void {
    const from = this.where.get(i);
    if (from) this.add(from, i, 1);
    this.add(to, i, -1);
    this.where.set(i, to);
  }

  compatible(source: Host, dest: Host): boolean {
    return (
      (source.cpuModel === undefined || dest.cpuModel === source.cpuModel) &&
      (source.az === undefined || dest.az === source.az)
    );
  }

  private add(h: Host, i: Instance, sign: 1 | -1): void {
    this.freeMem.set(h, this.freeMem.get(h)! + sign * i.memoryBytes);
    this.freeCpu.set(h, this.freeCpu.get(h)! + sign * i.vcpus);
  }
}

/** Largest first, each to the compatible listed host with the most free memory (ties by name). */
function placeAll(ledger: Ledger, leaving: readonly Instance[], tiers: readonly number[]): PlacementResult {
  const placements: Placement[] = [];
  const blockers: Blocker[] = [];
  const ordered = [...leaving].sort(
    (x, y) => y.memoryBytes - x.memoryBytes || y.vcpus - x.vcpus || byName(x.name, y.name),
  );
  for (const inst of ordered) {
    if (!inst.migratable) {
      blockers.push({
        instance: inst.name,
        code: 'not-migratable',
        reason: inst.notMigratableReason ?? 'marked as not live-migratable',
      });
      continue;
    }
    const source = ledger.where.get(inst)!;
    const listed = (t: number) => ledger.fleet.hosts.filter((h) => ledger.tier.get(h) === t);
    const open = (h: Host) => ledger.compatible(source, h);
    const room = (h: Host) =>
      ledger.freeMem.get(h)! >= inst.memoryBytes && ledger.freeCpu.get(h)! >= inst.vcpus;
    const alone = (h: Host) =>
      inst.antiAffinityGroup === undefined ||
      !ledger.on(h).some((o) => o.antiAffinityGroup === inst.antiAffinityGroup);
    let to: Host | undefined;
    for (const t of tiers) {
      const candidates = listed(t).filter((h) => open(h) && room(h) && alone(h));
      candidates.sort((a, b) => ledger.freeMem.get(b)! - ledger.freeMem.get(a)! || byName(a.name, b.name));
      to = candidates[0];
      if (to) break;
    }
    if (to) {
      placements.push({ instance: inst.name, from: source.name, to: to.name });
      ledger.move(inst, to);
      continue;
    }
    const destinations = tiers.flatMap(listed);
    const where = describeClass(source);
    if (source.cpuModel !== undefined && !destinations.some((h) => h.cpuModel === source.cpuModel))
      blockers.push({
        instance: inst.name,
        code: 'cpu-model',
        reason: `no schedulable host with cpuModel ${source.cpuModel} other than ${source.name}`,
      });
    else if (!destinations.some(open))
      blockers.push({
        instance: inst.name,
        code: 'availability-zone',
        reason: `no schedulable host${where} other than ${source.name}`,
      });
    else if (inst.antiAffinityGroup && destinations.some((h) => open(h) && room(h)))
      blockers.push({
        instance: inst.name,
        code: 'anti-affinity',
        reason: `every host${where} with room for it already runs a member of anti-affinity group ${inst.antiAffinityGroup}`,
      });
    else
      blockers.push({
        instance: inst.name,
        code: 'no-capacity',
        reason: `no host with ${formatBytes(inst.memoryBytes)} and ${inst.vcpus} vCPUs free${where}`,
      });
  }
  return { placements, blockers };
}

export interface ReferencePlacementOptions {
  instances?: readonly string[];
  avoid?: readonly string[];
  draining?: readonly string[];
}

/** placeInstances, the plain way (valid input only: the tests of errors are elsewhere). */
export function referencePlacement(
  fleet: Fleet,
  sources: readonly string[],
  options: ReferencePlacementOptions = {},
): PlacementResult {
  const ledger = new Ledger(fleet);
  const from = sources.map((s) => ledger.host(s)!);
  for (const h of fleet.hosts)
    if (h.schedulable && !from.includes(h) && !options.draining?.includes(h.name))
      ledger.tier.set(h, options.avoid?.includes(h.name) ? 1 : 0);
  const leaving = options.instances
    ? options.instances.map((n) => fleet.instances.find((i) => i.name === n)!)
    : fleet.instances.filter((i) => from.includes(ledger.where.get(i)!));
  return placeAll(ledger, leaving, [0, 1]);
}

/** planCampaign (`naive`: planCampaignNaive), the plain way. */
export function referenceCampaign(
  fleet: Fleet,
  hosts: readonly string[],
  parallel: number,
  naive = false,
): CampaignPlan {
  const ledger = new Ledger(fleet);
  const campaign = hosts.map((n) => ledger.host(n)!);
  const DONE = 0;
  const TO_DO = 1;
  for (const h of fleet.hosts)
    if (h.schedulable) ledger.tier.set(h, !naive && campaign.includes(h) ? TO_DO : DONE);
  const tiers = naive ? [DONE] : [DONE, TO_DO];
  const used = (h: Host, key: 'memoryBytes' | 'vcpus') =>
    h[key] - (key === 'memoryBytes' ? ledger.freeMem : ledger.freeCpu).get(h)!;
  // Free memory and vCPUs of the maintained (or outside) hosts a host's VMs may go to.
  const spare = (source: Host, key: 'memoryBytes' | 'vcpus') =>
    fleet.hosts
      .filter((h) => ledger.tier.get(h) === DONE && ledger.compatible(source, h))
      .reduce(
        (sum, h) => sum + Math.max(0, (key === 'memoryBytes' ? ledger.freeMem : ledger.freeCpu).get(h)!),
        0,
      );
  let remaining = [...campaign];
  const steps: CampaignPlan['steps'] = [];
  const blockers: Blocker[] = [];
  const moved = new Set<string>();
  let migrations = 0;
  while (remaining.length > 0) {
    const chosen: Host[] = [];
    if (naive) chosen.push(...remaining.slice(0, parallel));
    else {
      let claimedMem = 0;
      let claimedCpu = 0;
      while (chosen.length < parallel && chosen.length < remaining.length) {
        const left = remaining.filter((h) => !chosen.includes(h));
        const fits = (h: Host) =>
          spare(h, 'memoryBytes') - claimedMem >= used(h, 'memoryBytes') &&
          spare(h, 'vcpus') - claimedCpu >= used(h, 'vcpus');
        const pool = left.some(fits) ? left.filter(fits) : left;
        pool.sort((a, b) => used(a, 'memoryBytes') - used(b, 'memoryBytes') || byName(a.name, b.name));
        const h = pool[0]!;
        chosen.push(h);
        claimedMem += used(h, 'memoryBytes');
        claimedCpu += used(h, 'vcpus');
      }
    }
    remaining = remaining.filter((h) => !chosen.includes(h));
    for (const h of chosen) ledger.tier.delete(h);
    const leaving = chosen.flatMap((h) => ledger.on(h));
    const result = placeAll(ledger, leaving, tiers);
    for (const h of chosen) if (h.schedulable) ledger.tier.set(h, DONE);
    for (const b of result.blockers) if (!blockers.some((x) => x.instance === b.instance)) blockers.push(b);
    for (const p of result.placements) moved.add(p.instance);
    migrations += result.placements.length;
    steps.push({ hosts: chosen.map((h) => h.name), placements: result.placements });
  }
  return { steps, migrationsPerVm: moved.size > 0 ? migrations / moved.size : 0, blockers };
}
