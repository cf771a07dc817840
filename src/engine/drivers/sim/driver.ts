import type { Clock } from '../../clock.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import type { Driver, MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import type { SimFault } from './faults.js';
import { FleetSim, type SimProgress, type SimSnapshot } from './fleet-sim.js';

/** Simulated maintenance takes this long unless configured otherwise. */
export const DEFAULT_MAINTENANCE_MS = 60_000;

export interface SimOptions {
  /** Initial hosts and instances (instances carry their dirty rates). */
  fleet: Fleet;
  /** VirtualClock in tests, the bench and the CLI; acceleratedClock for a live simulation. */
  clock: Clock;
  /** One migration stream's cap (policy.streamCapGbps × GBPS), bytes/s. */
  streamCapBytesPerS: number;
  /** Multifd's physics (policy.multifdChannelCapGbps, multifdChannelCpuCores); default one stream's cap, no CPU cost. */
  multifd?: { channelCapBytesPerS: number; coresPerChannel: number };
  /** Seed of the deterministic ±5 % jitter of dirty rates; default 1, 0 = none. */
  seed?: number;
  faults?: SimFault[];
  /** How long `runMaintenance` takes on the clock, ms (default 60 s). */
  maintenanceMs?: number;
}

/**
 * The simulated fleet behind the Driver interface: the same samples, errors and idempotency as a
 * hypervisor, on the injected clock. The simulation advances lazily to `clock.now()` on every
 * call, so a caller that samples once a second and one that samples once an hour see the same
 * migration.
 */
export class SimDriver implements Driver {
  readonly kind = 'sim' as const;
  private readonly sim: FleetSim;

  constructor(private readonly options: SimOptions) {
    this.sim = new FleetSim({
      fleet: options.fleet,
      streamCapBytesPerS: options.streamCapBytesPerS,
      ...(options.multifd && { multifd: options.multifd }),
      seed: options.seed ?? 1,
      faults: options.faults ?? [],
      start: options.clock.now(),
    });
  }

  async inventory(): Promise<Fleet> {
    return this.current().inventory();
  }

  async setSchedulable(host: string, enabled: boolean, reason: string): Promise<void> {
    this.current().setSchedulable(host, enabled, reason);
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    const reasons = this.current().refusals(request);
    return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
  }

  async start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle> {
    const m = this.current().start(request, tuning);
    return { migrationId: m.id, instance: m.instance, from: m.from, to: m.to };
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    const sim = this.current();
    return sim.migration(handle.migrationId).sample(sim.now());
  }

  async tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void> {
    this.current().tune(handle.migrationId, tuning);
  }

  async switchToPostCopy(handle: MigrationHandle): Promise<void> {
    this.current().switchToPostCopy(handle.migrationId);
  }

  async pause(handle: MigrationHandle): Promise<void> {
    this.current().pause(handle.migrationId);
  }

  async recoverPostcopy(handle: MigrationHandle): Promise<void> {
    this.current().recoverPostcopy(handle.migrationId);
  }

  async abort(handle: MigrationHandle): Promise<void> {
    this.current().abort(handle.migrationId);
  }

  async runMaintenance(host: string): Promise<{ ok: boolean; output: string }> {
    this.current().maintenanceStarted(host);
    await this.options.clock.sleep(this.options.maintenanceMs ?? DEFAULT_MAINTENANCE_MS);
    const failure = this.current().maintenanceFailure(host);
    return failure === undefined
      ? { ok: true, output: `simulated maintenance of ${host} finished` }
      : { ok: false, output: failure };
  }

  async close(): Promise<void> {}

  /** The whole simulated state now: fleet, every migration (with exact start/end), failures. */
  snapshot(): SimSnapshot {
    return this.current().snapshot();
  }

  /** Injects a fault while the simulation runs; its `afterMs` counts from now. */
  injectFault(fault: SimFault): void {
    this.current().injectFault(fault);
  }

  /**
   * The event-driven simulator's look ahead (bench/quiet.ts): the next event's time at today's
   * rates, a migration's progress, and running the simulation on through the next event. That
   * may go past the clock, up to a time no driver call comes before (the simulation never goes
   * back).
   */
  nextEventAt(): number | undefined {
    return this.current().nextEventAt();
  }

  progress(migrationId: string): SimProgress {
    return this.current().progress(migrationId);
  }

  /** Runs on through the next event, never past `limit`; returns the simulation's time. */
  runToNextEvent(limit: number): number {
    return this.current().advanceToNextEvent(limit);
  }

  /** The simulation advanced to the clock's now. */
  private current(): FleetSim {
    this.sim.advanceTo(this.options.clock.now());
    return this.sim;
  }
}
