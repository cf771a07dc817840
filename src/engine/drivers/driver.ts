import type { z } from 'zod';
import type { Clock } from '../clock.js';
import type { CoreConfig } from '../config.js';
import type { Fleet, ProgressSample, Tuning } from '../model.js';

/** A driver's name in `fleet.driver`: its folder under drivers/. */
export type DriverKind = string;

/** What a back end cannot do; absent means it can do everything the interface offers. */
export interface DriverLacks {
  autoConverge?: boolean;
  /** No multifd channels per migration: every move is planned as one stream. */
  multifd?: boolean;
}

/** Config sections a driver reads, by top-level key; each is optional in the file. */
export type DriverSections = Record<string, z.ZodOptional>;

/** The config a driver's factory gets: the core sections and its own, validated. */
export type DriverConfig<S extends DriverSections> = CoreConfig & { [K in keyof S]?: z.output<S[K]> };

/**
 * What each driver folder exports (its index.ts `driverModule`): the config sections it reads,
 * its factory and what it lacks. The catalog lists these; nothing else names a driver.
 */
export interface DriverModule<S extends DriverSections = DriverSections, K extends DriverKind = DriverKind> {
  readonly kind: K;
  readonly sections: S;
  readonly lacks: DriverLacks;
  create(config: DriverConfig<S>, clock: Clock): Driver;
}

/** Declares a driver module with its sections' types kept (a helper for inference only). */
export function defineDriver<S extends DriverSections, K extends DriverKind>(
  module: DriverModule<S, K>,
): DriverModule<S, K> {
  return module;
}

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

/** Where a guest is now, as the back end sees it: asked after a migration it no longer knows. */
export interface Whereabouts {
  /** The host it is on; absent when the back end has it on no host. */
  host?: string;
  /** Whether it runs there; absent when the back end cannot tell. */
  running?: boolean;
  /** The back end's own words (QEMU's run state, why it is nowhere), for the operator. */
  detail?: string;
}

export type PrecheckResult = { ok: true } | { ok: false; reasons: string[] };

/**
 * One interface, several back ends (sim, qemu, libvirt, nova), like Bolt's receivers.
 * Every method validates the back end's reply and throws a FerryError subclass on failure.
 */
export interface Driver {
  readonly kind: DriverKind;
  /** What the back end cannot do; absent means it can do everything the interface offers. */
  readonly lacks?: DriverLacks;
  /** How a stalled post-copy can be recovered on this back end, in an operator's words (if it can). */
  readonly postcopyRecovery?: string;
  /**
   * Only back ends that can: recovers a post-copy whose link broke. It closes the dead migration
   * channel on both sides if QEMU has not noticed yet (the guest keeps running on the
   * destination, waiting for pages) and resumes over a new one, which connects once the link is
   * back; sampling shows it moving again. Safe to call again (a refused or still-broken attempt
   * leaves the post-copy paused).
   */
  recoverPostcopy?(handle: MigrationHandle): Promise<void>;
  /** Hosts and instances with capacity, placement facts and migratability. */
  inventory(): Promise<Fleet>;
  /** Enable or disable scheduling onto a host (Nova: os-services disable/enable). */
  setSchedulable(host: string, enabled: boolean, reason: string): Promise<void>;
  /** CPU compatibility, capacity, reachability, disk: reasons the move cannot start. */
  precheck(request: MigrationRequest): Promise<PrecheckResult>;
  /** Starts the migration, or returns the handle of the one already running under this id. */
  start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle>;
  /** Throws MigrationLostError when the back end has no such migration (any more). */
  sample(handle: MigrationHandle): Promise<ProgressSample>;
  /**
   * Where the handle's guest is now, asked by the hypervisors themselves. Only for drivers whose
   * `inventory()` is configured rather than observed (qemu); the engine reads the inventory of
   * the others.
   */
  locate?(handle: MigrationHandle): Promise<Whereabouts>;
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
