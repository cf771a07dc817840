import { InputError, NotFoundError } from '../errors.js';
import type { Blocker, Fleet } from '../model.js';
import { compareNames, HostPool, type Placement } from './pool.js';

/**
 * Where each VM of the hosts being drained goes.
 *
 * Largest VMs first (memory, then vCPUs, then name), each to the compatible host with the most
 * free memory (worst fit, ties by name). Why worst fit rather than best fit: a drain's moves then
 * spread over many destinations, so more of them can run at once under maxPerDestination and the
 * destination NICs; the fleet stays balanced; and placing the largest VMs first while the largest
 * holes exist is what keeps room for them (the classic LPT rule). Best fit would pack a drain
 * onto one or two hosts and serialise it on their inbound links.
 */

export type { Placement } from './pool.js';

export interface PlacementOptions {
  /** Place only these instances (names); default: every instance on the sources. */
  instances?: readonly string[];
  /** Hosts used only when no other has room: a campaign's hosts still to be maintained. */
  avoid?: readonly string[];
  /** Hosts other evacuations are draining: never destinations, even before they are disabled. */
  draining?: readonly string[];
}

export interface PlacementResult {
  placements: Placement[];
  /** Instances that stay where they are, with the reason, before anything starts. */
  blockers: Blocker[];
}

/**
 * Chooses a destination for every instance on `sources`. Destinations are schedulable hosts that
 * are not being drained, with room (vCPUs and memory, counting what the plan adds), no member of
 * the instance's anti-affinity group, the source's cpuModel and AZ when the source has them.
 */
export function placeInstances(
  fleet: Fleet,
  sources: readonly string[],
  options: PlacementOptions = {},
): PlacementResult {
  const { placements, blockers } = placeOnPool(fleet, sources, options);
  return { placements, blockers };
}

/**
 * `placeInstances`, also returning the pool it planned on and the instances it placed (indices
 * into `fleet.instances`), so a planner reads the hosts and VMs it needs without another pass
 * over the fleet.
 */
export function placeOnPool(
  fleet: Fleet,
  sources: readonly string[],
  options: PlacementOptions = {},
): PlacementResult & { pool: HostPool; leaving: number[] } {
  const pool = new HostPool(fleet, 2);
  const avoid = new Set(options.avoid ?? []);
  const draining = new Set<number>();
  for (const name of sources) {
    const h = pool.hostIndex.get(name);
    if (h === undefined) throw new NotFoundError(`no host named ${name} in the fleet`);
    draining.add(h);
  }
  const elsewhere = new Set(options.draining ?? []);
  pool.hosts.forEach((host, h) => {
    if (host.schedulable && !draining.has(h) && !elsewhere.has(host.name))
      pool.enlist(h, avoid.has(host.name) ? 1 : 0);
  });
  let instances: number[];
  if (options.instances) {
    instances = options.instances.map((name) => {
      const i = pool.findInstance(name);
      if (i === undefined) throw new NotFoundError(`no instance named ${name} in the fleet`);
      if (!draining.has(pool.location[i]!))
        throw new InputError(`${name} runs on ${pool.instances[i]!.host}, not on ${sources.join(', ')}`);
      return i;
    });
  } else {
    instances = pool.residentsOf([...draining]);
  }
  return { ...placeAll(pool, instances, [0, 1]), pool, leaving: instances };
}

/**
 * Places instances one by one, largest first, moving them in `pool` as it goes so later choices
 * see earlier ones. `tiers` lists the destination tiers in order of preference.
 */
export function placeAll(
  pool: HostPool,
  instances: readonly number[],
  tiers: readonly number[],
): PlacementResult {
  const placements: Placement[] = [];
  const blockers: Blocker[] = [];
  const ordered = [...instances].sort((a, b) => {
    const x = pool.instances[a]!;
    const y = pool.instances[b]!;
    return y.memoryBytes - x.memoryBytes || y.vcpus - x.vcpus || compareNames(x.name, y.name);
  });
  for (const i of ordered) {
    const inst = pool.instances[i]!;
    if (!inst.migratable) {
      blockers.push({
        instance: inst.name,
        code: 'not-migratable',
        reason: inst.notMigratableReason ?? 'marked as not live-migratable',
      });
      continue;
    }
    const to = pool.choose(i, tiers);
    if (to === undefined) {
      blockers.push(pool.diagnose(i, tiers));
      continue;
    }
    const from = pool.hosts[pool.location[i]!]!.name;
    pool.move(i, to);
    placements.push({ instance: inst.name, from, to: pool.hosts[to]!.name });
  }
  return { placements, blockers };
}
