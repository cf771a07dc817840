/**
 * The stand-in's fleet and its live-migration model over stub time, after Nova's lifecycle:
 *
 *   accepted (conductor) -> queued -> preparing (compute) -> running (libvirt job)
 *     -> [running (post-copy)] -> completed
 *   a scheduling or pre-check failure: error; a libvirt failure and rollback: failed;
 *   DELETE while running: cancelled (the server stays on its source).
 *
 * Pre-copy: pass 0 sends the guest's memory at the stream's bandwidth; pass i sends what the
 * guest dirtied during pass i-1; the switchover happens once a pass fits in bandwidth x 0.5 s
 * (QEMU's rule), so a guest dirtying faster than the bandwidth never converges. A PAUSED guest
 * dirties nothing. force_complete does what the compute's nova.conf says: with
 * live_migration_permit_post_copy the guest switches to the destination and pulls the rest
 * (`running (post-copy)`); without it the guest is paused so the current pass is the last.
 */

export const MiB = 1024 ** 2;

export type VmState = 'active' | 'paused' | 'stopped' | 'suspended' | 'error' | 'shelved_offloaded';

export interface StubHost {
  name: string;
  hypervisorId: string;
  serviceId: string;
  vcpus: number;
  memoryMb: number;
  cpuModel: string;
  az: string;
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  state: 'up' | 'down';
  cell: string;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  reservedHostMemoryMb: number;
}

export interface StubServer {
  id: string;
  name: string;
  host: string;
  vcpus: number;
  ramMb: number;
  vmState: VmState;
  taskState: string | null;
  groupId?: string;
  dirtyBytesPerS: number;
  createdAt: number;
}

export type MigrationStatus =
  | 'accepted'
  | 'queued'
  | 'preparing'
  | 'running'
  | 'running (post-copy)'
  | 'completed'
  | 'error'
  | 'failed'
  | 'cancelled';

/** GET /servers/{id}/migrations lists these only (nova.db migration_get_in_progress_by_instance). */
export const SHOWN_IN_PROGRESS: readonly MigrationStatus[] = ['queued', 'preparing', 'running'];
/** Not over yet. */
export const UNDER_WAY: readonly MigrationStatus[] = [
  ...SHOWN_IN_PROGRESS,
  'accepted',
  'running (post-copy)',
];

export interface StubMigration {
  id: number;
  uuid: string;
  serverId: string;
  source: string;
  dest: string | null;
  status: MigrationStatus;
  createdAt: number;
  updatedAt: number;
  memoryBytes: number;
  dirtyBytesPerS: number;
  pass: number;
  passStart: number;
  passBytes: number;
  sentBefore: number;
  finalPass: boolean;
  /** force_complete without post-copy: the guest is paused, it dirties nothing more. */
  guestPaused: boolean;
  /** In post-copy: when it began and how much the destination still pulls. */
  postCopyAt?: number;
  postCopyBytes: number;
  requestId: string;
}

export interface StubEvent {
  event: string;
  result: string | null;
  start_time: string;
  finish_time: string | null;
  traceback: string | null;
  host: string;
}

export interface StubAction {
  action: string;
  request_id: string;
  message: string | null;
  start_time: string;
  updated_at: string;
  events: StubEvent[];
}

export interface Failure {
  stuck: boolean;
  cause: string;
}

export interface ModelSettings {
  setupMs: number;
  bandwidthBytesPerS: number;
  /** nova.conf [libvirt] live_migration_permit_post_copy on the computes (Nova's default: false). */
  permitPostCopy: boolean;
}

/** What a migration's changes do to the rest of the stub. */
export interface ModelHooks {
  server(id: string): StubServer;
  event(m: StubMigration, name: string, result: 'Success' | 'Error', at: number, traceback?: string): void;
  armed(serverId: string): Failure | undefined;
}

/** Brings one migration up to stub time `now`. */
export function advanceMigration(m: StubMigration, now: number, s: ModelSettings, hooks: ModelHooks): void {
  const bandwidth = s.bandwidthBytesPerS;
  if (m.status === 'accepted' && now >= m.createdAt + s.setupMs / 4) m.status = 'queued';
  if (m.status === 'queued' && now >= m.createdAt + s.setupMs / 2) m.status = 'preparing';
  if (m.status === 'preparing' && now >= m.createdAt + s.setupMs) {
    const armed = hooks.armed(m.serverId);
    if (armed) {
      failMigration(m, armed, m.createdAt + s.setupMs, hooks);
      return;
    }
    m.status = 'running';
    m.passStart = m.createdAt + s.setupMs;
    m.passBytes = m.memoryBytes;
  }
  if (m.status === 'running (post-copy)') {
    if (now >= m.postCopyAt! + (m.postCopyBytes / bandwidth) * 1000)
      completeMigration(m, m.postCopyAt! + (m.postCopyBytes / bandwidth) * 1000, hooks);
    return;
  }
  while (m.status === 'running') {
    const passEnd = m.passStart + (m.passBytes / bandwidth) * 1000;
    if (now < passEnd) break;
    m.sentBefore += m.passBytes;
    if (m.finalPass) {
      completeMigration(m, passEnd, hooks);
      break;
    }
    const dirtied = m.guestPaused
      ? 0
      : Math.min(m.memoryBytes, (m.dirtyBytesPerS * (passEnd - m.passStart)) / 1000);
    m.finalPass = m.guestPaused || dirtied <= bandwidth * 0.5;
    m.pass += 1;
    m.passStart = passEnd;
    m.passBytes = dirtied;
  }
}

/** Byte counters as the compute reports them, while `running` only. */
export function countersOf(
  m: StubMigration,
  now: number,
  bandwidth: number,
): { total: number; processed: number; remaining: number } | undefined {
  if (m.status !== 'running') return undefined;
  const sent = Math.min(m.passBytes, Math.max(0, ((now - m.passStart) * bandwidth) / 1000));
  return {
    total: m.memoryBytes,
    processed: Math.round(m.sentBefore + sent),
    remaining: Math.round(m.passBytes - sent),
  };
}

/** force_complete on a running migration, as the compute's configuration decides. */
export function forceComplete(m: StubMigration, now: number, s: ModelSettings): void {
  if (!s.permitPostCopy) {
    m.guestPaused = true;
    return;
  }
  const c = countersOf(m, now, s.bandwidthBytesPerS)!;
  m.status = 'running (post-copy)';
  m.postCopyAt = now;
  m.postCopyBytes = c.remaining;
  m.sentBefore = c.processed;
  m.updatedAt = now;
}

export function completeMigration(m: StubMigration, at: number, hooks: ModelHooks): void {
  const server = hooks.server(m.serverId);
  if (m.postCopyAt !== undefined) m.sentBefore += m.postCopyBytes;
  m.status = 'completed';
  m.updatedAt = at;
  server.host = m.dest!;
  server.taskState = null;
  hooks.event(m, 'compute_live_migration', 'Success', at);
}

/**
 * A libvirt failure: Nova rolls back to the source and writes `failed`. In post-copy the guest
 * already ran on the destination: it is lost (ERROR). `stuck` leaves the server MIGRATING.
 */
export function failMigration(m: StubMigration, failure: Failure, at: number, hooks: ModelHooks): void {
  const server = hooks.server(m.serverId);
  const postCopy = m.status === 'running (post-copy)';
  m.status = 'failed';
  m.updatedAt = at;
  if (postCopy) {
    server.vmState = 'error';
    server.taskState = null;
  } else if (!failure.stuck) server.taskState = null;
  const traceback = `Traceback (most recent call last):\n  File "nova/virt/libvirt/driver.py", line 10210, in _live_migration_operation\n${failure.cause}`;
  hooks.event(m, 'compute_live_migration', 'Error', at, traceback);
}
