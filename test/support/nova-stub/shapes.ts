import type { StubAction, StubHost, StubMigration, StubServer, VmState } from './model.js';

/**
 * The JSON Nova writes, per microversion, after doc/api_samples (../shared/reference/
 * nova-api-samples): what each microversion adds or drops is applied here, nowhere else.
 */

export const PROJECT_ID = '6f70656e737461636b20342065766572';
export const USER_ID = '5c48ebaa193f4c5d948af559cc92cd5e';

export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

export const since = (mv: string, version: string) => compareVersions(mv, version) >= 0;

/** Nova's timestamps: `2016-01-29T13:42:02.000000`. */
export function novaTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000`;
}

/** nova.api.openstack.common's status for a vm_state and task_state. */
export function serverStatus(vmState: VmState, taskState: string | null): string {
  if (taskState === 'migrating' && (vmState === 'active' || vmState === 'paused')) return 'MIGRATING';
  const map: Record<VmState, string> = {
    active: 'ACTIVE',
    paused: 'PAUSED',
    stopped: 'SHUTOFF',
    suspended: 'SUSPENDED',
    error: 'ERROR',
    shelved_offloaded: 'SHELVED_OFFLOADED',
  };
  return map[vmState];
}

const POWER: Record<VmState, number> = {
  active: 1,
  paused: 3,
  stopped: 4,
  suspended: 7,
  error: 0,
  shelved_offloaded: 4,
};

export interface HostFacts {
  servers: StubServer[];
  withServers: boolean;
}

/** os-hypervisors/detail entry: 2.88 dropped every capacity field and cpu_info, added uptime. */
export function hypervisorJson(h: StubHost, mv: string, facts: HostFacts): Record<string, unknown> {
  const json: Record<string, unknown> = {
    host_ip: '192.0.2.10',
    hypervisor_hostname: `${h.name}.example.org`,
    hypervisor_type: 'QEMU',
    hypervisor_version: 9002000,
    id: h.hypervisorId,
    service: { host: h.name, id: h.serviceId, disabled_reason: h.disabledReason },
    state: h.state,
    status: h.status,
  };
  if (since(mv, '2.88')) json.uptime = null;
  else {
    const usedMb = facts.servers.reduce((n, s) => n + s.ramMb, 0);
    Object.assign(json, {
      cpu_info: {
        arch: 'x86_64',
        model: h.cpuModel,
        vendor: 'Intel',
        features: ['pge', 'clflush'],
        topology: { cores: h.vcpus / 2, threads: 2, sockets: 1 },
      },
      current_workload: 0,
      disk_available_least: 900,
      free_disk_gb: 1000,
      free_ram_mb: h.memoryMb - usedMb,
      local_gb: 1028,
      local_gb_used: 28,
      memory_mb: h.memoryMb,
      memory_mb_used: usedMb + h.reservedHostMemoryMb,
      running_vms: facts.servers.length,
      vcpus: h.vcpus,
      vcpus_used: facts.servers.reduce((n, s) => n + s.vcpus, 0),
    });
  }
  // Nova omits "servers" for a hypervisor without any.
  if (facts.withServers && facts.servers.length > 0)
    json.servers = facts.servers.map((s) => ({ name: s.name, uuid: s.id }));
  return json;
}

export function serviceJson(h: StubHost): Record<string, unknown> {
  return {
    id: h.serviceId,
    binary: 'nova-compute',
    disabled_reason: h.disabledReason,
    host: h.name,
    state: h.state,
    status: h.status,
    updated_at: '2026-01-05T10:00:00.000000',
    forced_down: false,
    zone: h.az,
  };
}

/** A down cell's service (2.69+): what the API database's host mapping knows. */
export function downCellServiceJson(h: StubHost): Record<string, unknown> {
  return { binary: 'nova-compute', host: h.name, status: 'UNKNOWN' };
}

export interface ServerContext {
  mv: string;
  computeUrl: string;
  host: StubHost;
  /** GET /servers/{id} (true) or a listing (false): server_groups is in the former only. */
  show: boolean;
}

export function serverJson(s: StubServer, c: ServerContext): Record<string, unknown> {
  const links = serverLinks(s, c.computeUrl);
  const json: Record<string, unknown> = {
    'OS-DCF:diskConfig': 'AUTO',
    'OS-EXT-AZ:availability_zone': c.host.az,
    'OS-EXT-SRV-ATTR:host': s.host,
    'OS-EXT-SRV-ATTR:hostname': s.name,
    'OS-EXT-SRV-ATTR:hypervisor_hostname': `${s.host}.example.org`,
    'OS-EXT-SRV-ATTR:instance_name': `instance-${s.id.slice(0, 8)}`,
    'OS-EXT-STS:power_state': POWER[s.vmState],
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': s.vmState,
    'OS-SRV-USG:launched_at': '2026-01-05T10:00:00.000000',
    'OS-SRV-USG:terminated_at': null,
    accessIPv4: '',
    accessIPv6: '',
    addresses: {},
    config_drive: '',
    created: '2026-01-05T09:59:00Z',
    description: null,
    flavor: {
      disk: 20,
      ephemeral: 0,
      extra_specs: {},
      original_name: `m1.c${s.vcpus}r${s.ramMb}`,
      ram: s.ramMb,
      swap: 0,
      vcpus: s.vcpus,
    },
    hostId: s.host.padEnd(56, '0').slice(0, 56),
    host_status: c.host.state === 'up' ? 'UP' : 'DOWN',
    id: s.id,
    image: '',
    key_name: null,
    links,
    locked: false,
    metadata: {},
    name: s.name,
    'os-extended-volumes:volumes_attached': [],
    progress: 0,
    security_groups: [{ name: 'default' }],
    status: serverStatus(s.vmState, s.taskState),
    tags: [],
    tenant_id: PROJECT_ID,
    trusted_image_certificates: null,
    updated: '2026-01-05T10:00:00Z',
    user_id: USER_ID,
  };
  if (since(c.mv, '2.71') && c.show) json.server_groups = s.groupId ? [s.groupId] : [];
  if (since(c.mv, '2.73')) json.locked_reason = null;
  if (since(c.mv, '2.96')) json.pinned_availability_zone = null;
  if (since(c.mv, '2.100') && c.show) json.scheduler_hints = {};
  return json;
}

/**
 * A down cell's server (2.69+): in a listing the API database's instance mapping (id, status,
 * links; tenant_id and created in details); GET adds the request spec's facts.
 */
export function downCellServerJson(
  s: StubServer,
  c: { mv: string; computeUrl: string; detail: boolean; show: boolean },
): Record<string, unknown> {
  const json: Record<string, unknown> = { id: s.id, status: 'UNKNOWN', links: serverLinks(s, c.computeUrl) };
  if (c.detail || c.show) Object.assign(json, { tenant_id: PROJECT_ID, created: novaTime(s.createdAt) });
  if (c.show) {
    Object.assign(json, {
      'OS-EXT-AZ:availability_zone': 'UNKNOWN',
      'OS-EXT-STS:power_state': 0,
      flavor: {
        disk: 20,
        ephemeral: 0,
        extra_specs: {},
        original_name: `m1.c${s.vcpus}`,
        ram: s.ramMb,
        swap: 0,
        vcpus: s.vcpus,
      },
      image: '',
      user_id: USER_ID,
    });
    if (since(c.mv, '2.71')) json.server_groups = s.groupId ? [s.groupId] : [];
  }
  return json;
}

function serverLinks(s: StubServer, computeUrl: string) {
  return [
    { href: `${computeUrl}/${PROJECT_ID}/servers/${s.id}`, rel: 'self' },
    { href: `${computeUrl.replace(/\/v2\.1$/, '')}/${PROJECT_ID}/servers/${s.id}`, rel: 'bookmark' },
  ];
}

export function groupJson(g: { id: string; name: string; policy: string }, members: string[]) {
  return {
    id: g.id,
    name: g.name,
    policy: g.policy,
    rules: {},
    members,
    project_id: PROJECT_ID,
    user_id: USER_ID,
  };
}

type Counters = { total: number; processed: number; remaining: number } | undefined;

/** GET /servers/{id}/migrations[/{mid}] (2.59 uuid, 2.80 user_id and project_id). */
export function serverMigrationJson(m: StubMigration, mv: string, c: Counters): Record<string, unknown> {
  return {
    created_at: novaTime(m.createdAt),
    dest_compute: m.dest,
    dest_host: m.dest ? '192.0.2.20' : null,
    dest_node: m.dest ? `${m.dest}.example.org` : null,
    id: m.id,
    server_uuid: m.serverId,
    source_compute: m.source,
    source_node: `${m.source}.example.org`,
    status: m.status,
    memory_total_bytes: c?.total ?? null,
    memory_processed_bytes: c?.processed ?? null,
    memory_remaining_bytes: c?.remaining ?? null,
    disk_total_bytes: c ? 0 : null,
    disk_processed_bytes: c ? 0 : null,
    disk_remaining_bytes: c ? 0 : null,
    updated_at: novaTime(m.updatedAt),
    uuid: m.uuid,
    ...(since(mv, '2.80') && { user_id: USER_ID, project_id: PROJECT_ID }),
  };
}

/** GET /os-migrations entry (2.23 migration_type and links, 2.59 uuid, 2.80 user and project). */
export function migrationRecordJson(
  m: StubMigration,
  mv: string,
  computeUrl: string,
): Record<string, unknown> {
  const json: Record<string, unknown> = {
    created_at: novaTime(m.createdAt),
    dest_compute: m.dest,
    dest_host: m.dest ? '192.0.2.20' : null,
    dest_node: m.dest ? `${m.dest}.example.org` : null,
    id: m.id,
    instance_uuid: m.serverId,
    new_instance_type_id: 1,
    old_instance_type_id: 1,
    source_compute: m.source,
    source_node: `${m.source}.example.org`,
    status: m.status,
    migration_type: 'live-migration',
    updated_at: novaTime(m.updatedAt),
  };
  // In-progress live migrations link to their server-migrations resource.
  if (m.status === 'running' || m.status === 'queued' || m.status === 'preparing')
    json.links = [{ href: `${computeUrl}/servers/${m.serverId}/migrations/${m.id}`, rel: 'self' }];
  if (since(mv, '2.59')) json.uuid = m.uuid;
  if (since(mv, '2.80')) Object.assign(json, { user_id: USER_ID, project_id: PROJECT_ID });
  return json;
}

export function actionJson(a: StubAction, serverId: string, withEvents: boolean): Record<string, unknown> {
  const { events, ...rest } = a;
  return {
    ...rest,
    instance_uuid: serverId,
    user_id: USER_ID,
    project_id: PROJECT_ID,
    ...(withEvents && {
      events: events.map((e) => ({ ...e, hostId: e.host.padEnd(56, '0').slice(0, 56), details: null })),
    }),
  };
}

export function versionDoc(base: string, id: '2.0' | '2.1', max: string): Record<string, unknown> {
  return {
    id: `v${id}`,
    links: [{ href: `${base}/compute/v${id === '2.0' ? '2' : '2.1'}/`, rel: 'self' }],
    status: id === '2.1' ? 'CURRENT' : 'SUPPORTED',
    version: id === '2.1' ? max : '',
    min_version: id === '2.1' ? '2.1' : '',
    updated: id === '2.1' ? '2013-07-23T11:33:21Z' : '2011-01-21T11:33:21Z',
  };
}
