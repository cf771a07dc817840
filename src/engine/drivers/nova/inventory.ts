import { LIMITS, outsideLimit } from '../../config.js';
import { DriverReplyError } from '../../errors.js';
import { type Fleet, GBPS, type Host, type Instance, MiB, type Unreachable } from '../../model.js';
import type { NovaApi } from './api.js';
import { atLeast, type NovaConfig, PLACEMENT_MICROVERSION } from './config.js';
import {
  type AnyServer,
  type AnyService,
  type Hypervisor,
  hostOf,
  type Inventory,
  isDownCell,
  MEMORY_MIB,
  type Server,
  type ServerGroup,
} from './schemas.js';

/** Nova live-migrates servers in these states only. */
const MIGRATABLE_STATUSES = ['ACTIVE', 'PAUSED'];

/** What a down cell costs ferry, in an operator's words. */
export const DOWN_CELL =
  'in a Nova cell that does not answer (Nova reports it UNKNOWN): ferry can neither see it nor move it until the cell is back';

/**
 * force_complete (ferry's post-copy and pause) is for ACTIVE servers only: Nova checks
 * vm_state ACTIVE and answers 409 otherwise.
 */
export const PAUSED_NO_SWITCHOVER =
  'Nova force-completes live migrations of ACTIVE servers only, and this server is PAUSED';

/**
 * The fleet as Nova sees it: nova-compute hosts (capacity from os-hypervisors up to 2.87, from
 * Placement from 2.88 on), servers with embedded flavors, anti-affinity groups by membership.
 * A cell that does not answer (2.69+ `UNKNOWN` records) leaves its hosts and servers out, named
 * in `unreachable`, instead of failing the whole inventory.
 */
export async function readFleet(api: NovaApi, config: NovaConfig): Promise<Fleet> {
  const [hypervisors, services, servers, groups, zones] = await Promise.all([
    api.hypervisors(),
    api.computeServices(),
    api.servers(),
    api.serverGroups(),
    api.hostZones(),
  ]);
  const seen = servers.filter((s): s is Server => !isDownCell(s));
  const placed = seen.filter((s) => s.status !== 'DELETED' && hostOf(s) !== null);
  const groupOf = antiAffinityGroups(groups);
  const names = uniqueNames(placed);
  const instances: Instance[] = placed.map((s) => instanceOf(s, names.get(s.id)!, groupOf, config));

  const serverZone = new Map(
    placed.map((s) => [s['OS-EXT-SRV-ATTR:host']!, s['OS-EXT-AZ:availability_zone']]),
  );
  // One host per compute service (ironic has many nodes per service).
  const nodes = new Map<string, Hypervisor>();
  for (const h of hypervisors) if (!nodes.has(h.service.host)) nodes.set(h.service.host, h);
  const hosts = await Promise.all(
    [...nodes.values()].map(async (h): Promise<Host> => {
      const name = h.service.host;
      const capacity = await capacityOf(
        api,
        h,
        instances.filter((i) => i.host === name),
      );
      const down = h.state === 'down';
      const disabled = h.status === 'disabled';
      return {
        name,
        ...capacity,
        nicBytesPerS: config.nicGbps * GBPS,
        cpuModel: typeof h.cpu_info === 'object' ? h.cpu_info.model : undefined,
        az: zones.get(name) ?? serverZone.get(name),
        labels: [],
        schedulable: !disabled && !down,
        disabledReason: disabled
          ? (h.service.disabled_reason ?? 'disabled in Nova')
          : down
            ? 'nova-compute is down'
            : undefined,
      };
    }),
  );
  const unreachable = unreachableOf(services, servers, nodes);
  return { hosts, instances, ...(unreachable.length > 0 && { unreachable }) };
}

/** Why Nova would refuse to live-migrate this server now, or undefined. */
export function notMigratableReason(server: Server): string | undefined {
  if (!MIGRATABLE_STATUSES.includes(server.status))
    return `Nova status ${server.status}: only ACTIVE or PAUSED servers can be live-migrated`;
  const task = server['OS-EXT-STS:task_state'];
  if (task !== null) return `busy in Nova (task_state ${task})`;
  return undefined;
}

function instanceOf(
  s: Server,
  name: string,
  groupOf: ReturnType<typeof antiAffinityGroups>,
  config: NovaConfig,
): Instance {
  const reason = notMigratableReason(s);
  // A paused guest's vCPUs do not run: it dirties no memory, so pre-copy always converges.
  const paused = s.status === 'PAUSED';
  return {
    name,
    host: s['OS-EXT-SRV-ATTR:host']!,
    vcpus: s.flavor.vcpus,
    memoryBytes: s.flavor.ram * MiB,
    antiAffinityGroup:
      (s.server_groups ?? []).map((g) => groupOf.byId.get(g)).find(Boolean) ?? groupOf.byMember.get(s.id),
    migratable: reason === undefined,
    notMigratableReason: reason,
    dirtyBytesPerS: paused ? 0 : config.dirtyMiBps * MiB,
    ...(paused && { switchoverRefused: PAUSED_NO_SWITCHOVER }),
  };
}

/** The physical limits (the config's) of the Placement capacities ferry reads. */
const CAPACITY_LIMITS = { VCPU: LIMITS.vcpus, MEMORY_MB: MEMORY_MIB };

/**
 * Up to 2.87 the hypervisor's own vcpus and memory_mb. From 2.88 on Placement's inventory of
 * the compute node's resource provider: (total - reserved) x allocation_ratio, the room Nova's
 * scheduler has; allocations of consumers ferry does not list here (servers of other cells,
 * migrations in flight) shrink it further.
 */
async function capacityOf(
  api: NovaApi,
  h: Hypervisor,
  known: Instance[],
): Promise<{ vcpus: number; memoryBytes: number }> {
  if (!atLeast(api.microversion, PLACEMENT_MICROVERSION)) {
    if (h.vcpus === undefined || h.memory_mb === undefined)
      throw new DriverReplyError(
        `Nova ${api.microversion} reported no vcpus or memory_mb for hypervisor ${h.hypervisor_hostname}`,
      );
    return { vcpus: h.vcpus, memoryBytes: h.memory_mb * MiB };
  }
  const { inventories, usages } = await api.resourceProvider(h.id);
  const room = (resource: keyof typeof CAPACITY_LIMITS, knownUse: number) => {
    const node = `compute node ${h.hypervisor_hostname} (${h.id})`;
    const inventory: Inventory | undefined = inventories[resource];
    if (!inventory) throw new DriverReplyError(`Placement has no ${resource} inventory for ${node}`);
    const usable = Math.max(
      0,
      Math.floor((inventory.total - inventory.reserved) * inventory.allocation_ratio),
    );
    // The schema bounds each field; their product is what the planner sizes plans with.
    const outside = outsideLimit({ ...CAPACITY_LIMITS[resource], above: undefined, min: 0 }, usable);
    if (outside)
      throw new DriverReplyError(
        `Placement inventories.${resource} of ${node}: (total - reserved) × allocation_ratio is ${usable}, expected ${outside}`,
      );
    const unseen = Math.max(0, (usages[resource] ?? 0) - knownUse);
    return Math.max(0, usable - unseen);
  };
  const knownVcpus = known.reduce((n, i) => n + i.vcpus, 0);
  const knownMb = known.reduce((n, i) => n + i.memoryBytes / MiB, 0);
  return { vcpus: room('VCPU', knownVcpus), memoryBytes: room('MEMORY_MB', knownMb) * MiB };
}

function unreachableOf(
  services: AnyService[],
  servers: AnyServer[],
  nodes: Map<string, Hypervisor>,
): Unreachable[] {
  const hosts = [...new Set(services.filter((s) => isDownCell(s) && !nodes.has(s.host)).map((s) => s.host))];
  return [
    ...hosts.map(
      (name): Unreachable => ({ kind: 'host', name, reason: `nova-compute on ${name} is ${DOWN_CELL}` }),
    ),
    // Nova gives such a server neither name nor host: it is named by id, and may be anywhere.
    ...servers
      .filter(isDownCell)
      .map((s): Unreachable => ({ kind: 'instance', name: s.id, reason: `server ${s.id} is ${DOWN_CELL}` })),
  ];
}

/** Anti-affinity groups by id and by member, named by group name (or id where names clash). */
function antiAffinityGroups(groups: ServerGroup[]) {
  const anti = groups.filter((g) => g.policy === 'anti-affinity');
  const names = uniqueNames(anti);
  const byId = new Map(anti.map((g) => [g.id, names.get(g.id)!]));
  const byMember = new Map(anti.flatMap((g) => g.members.map((m) => [m, names.get(g.id)!] as const)));
  return { byId, byMember };
}

/** id -> name, where an item whose name is shared by another is named by its id instead. */
function uniqueNames(items: readonly { id: string; name: string }[]): Map<string, string> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.name, (counts.get(item.name) ?? 0) + 1);
  return new Map(items.map((item) => [item.id, counts.get(item.name) === 1 ? item.name : item.id]));
}
