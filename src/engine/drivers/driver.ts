import type { Fleet, ProgressSample, Tuning } from '../model.js';

export type DriverKind = 'sim' | 'qemu' | 'libvirt' | 'nova';

/** What a driver needs to start (or find again) one live migration. */
export interface MigrationRequest {
  /** Stable id (`${evacuationId}:${instance}`): `start` with an id already running returns its handle. */
  migrationId: string;
  instance: string;
  from: string;
  to: string;
}

/** Opaque to the engine beyond these fields; drivers keep their own reference in `ref`. */
export interface MigrationHandle {
  migrationId: string;
  instance: string;
  from: string;
  to: string;
  /** Driver-specific reference (Nova migration id, QMP socket path, ...), JSON-serialisable. */
  ref?: string;
}

export type PrecheckResult = { ok: true } | { ok: false; reasons: string[] };

/**
 * One interface, several back ends (sim, qemu, libvirt, nova), like Bolt's receivers.
 * Every method validates the back end's reply and throws a FerryError subclass on failure.
 */
export interface Driver {
  readonly kind: DriverKind;
  /** What the back end cannot do; absent means it can do everything the interface offers. */
  readonly lacks?: { autoConverge?: boolean };
  /** Hosts and instances with capacity, placement facts and migratability. */
  inventory(): Promise<Fleet>;
  /** Enable or disable scheduling onto a host (Nova: os-services disable/enable). */
  setSchedulable(host: string, enabled: boolean, reason: string): Promise<void>;
  /** CPU compatibility, capacity, reachability, disk: reasons the move cannot start. */
  precheck(request: MigrationRequest): Promise<PrecheckResult>;
  /** Starts the migration, or returns the handle of the one already running under this id. */
  start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle>;
  sample(handle: MigrationHandle): Promise<ProgressSample>;
  tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void>;
  /** Risky switchover: the guest runs on the destination and pulls pages; a link failure loses it. */
  switchToPostCopy(handle: MigrationHandle): Promise<void>;
  /** Risky switchover: pause the guest so the rest can be copied (downtime = remaining / bandwidth). */
  pause(handle: MigrationHandle): Promise<void>;
  /** Cancels; the VM must stay running on the source. */
  abort(handle: MigrationHandle): Promise<void>;
  /** Runs the configured maintenance on a drained host (the command comes from config, never chat). */
  runMaintenance(host: string): Promise<{ ok: boolean; output: string }>;
  close(): Promise<void>;
}
