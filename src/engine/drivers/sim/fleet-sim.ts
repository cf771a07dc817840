import { channelsWithinCpu, fairShares, migrationStream, type StreamCaps } from '../../bandwidth.js';
import { DriverRefusedError, FerryError, MigrationLostError, NotFoundError } from '../../errors.js';
import type { Fleet, Host, Instance, Tuning } from '../../model.js';
import { formatBytes } from '../../words.js';
import type { MigrationRequest } from '../driver.js';
import { faultMessages, type SimFault } from './faults.js';
import { dirtyRateJitter } from './jitter.js';
import { SimMigration, type SimMigrationView, type SimPhase, SOURCE_PHASES } from './migration.js';

/**
 * The simulated fleet: hosts, instances and the migrations between them, stepped through time
 * piecewise. Between two events (a pass ending, a migration finishing, a fault firing) every
 * stream's rate is constant, so the state is integrated exactly up to the next event rather than
 * in ticks. Rates are the max-min fair shares of the NICs (bandwidth.ts), recomputed only when
 * the set of streams or their caps change. Time is passed in: nothing here reads a clock.
 */

export interface FleetSimOptions {
  fleet: Fleet;
  /** One stream's throughput cap, bytes/s. */
  streamCapBytesPerS: number;
  /**
   * Multifd's physics: one channel's cap (default one stream's) and the cores a channel keeps
   * busy on each side (default 0: free). A host short of spare cores runs fewer channels.
   */
  multifd?: { channelCapBytesPerS: number; coresPerChannel: number };
  /** Seed of the dirty-rate jitter; 0 = none. */
  seed: number;
  faults: readonly SimFault[];
  /** Epoch ms at which the simulation starts (the origin of destination failures' `afterMs`). */
  start: number;
}

/** The whole simulated state at one instant (copies). */
export interface SimSnapshot {
  at: number;
  fleet: Fleet;
  migrations: SimMigrationView[];
  /** Hosts that failed, with why. */
  failedHosts: Record<string, string>;
  /** Instances lost in a post-copy failure, with why. */
  lostInstances: Record<string, string>;
  /** Every maintenance started, in order: a test counts them as it counts migrations. */
  maintenanceRuns: { host: string; at: number }[];
}

interface FaultState {
  fault: SimFault;
  /** Epoch ms from which the fault may apply: the simulation's start, or when it was injected. */
  origin: number;
  fired: boolean;
}

/** Where one migration is, as the event-driven simulator looks ahead from it. */
export interface SimProgress {
  phase: SimPhase;
  /** QEMU's dirty-sync count: 1 during the first pass. */
  iteration: number;
  rateBytesPerS: number;
  dirtyBytesPerS: number;
  remainingBytes: number;
}

/** A step that loops this often without passing the target time has a bug, not a workload. */
const MAX_EVENTS_PER_ADVANCE = 10_000_000;

export class FleetSim {
  private time: number;
  private readonly hosts = new Map<string, Host>();
  private readonly instances = new Map<string, Instance>();
  private readonly links: Map<string, number>;
  private readonly migrations = new Map<string, SimMigration>();
  /** Migrations still moving bytes, in start order (the streams). */
  private moving: SimMigration[] = [];
  /** Instance name -> its migration under way. */
  private readonly byInstance = new Map<string, SimMigration>();
  private readonly failedHosts = new Map<string, string>();
  private readonly lostInstances = new Map<string, string>();
  private readonly maintenanceRuns: { host: string; at: number }[] = [];
  private readonly faults: FaultState[];
  private sharesStale = true;

  constructor(private readonly options: FleetSimOptions) {
    this.time = options.start;
    for (const h of options.fleet.hosts) this.hosts.set(h.name, { ...h, labels: [...h.labels] });
    for (const i of options.fleet.instances) this.instances.set(i.name, { ...i });
    this.links = new Map(options.fleet.hosts.map((h) => [h.name, h.nicBytesPerS]));
    this.faults = options.faults.map((fault) => ({ fault, origin: options.start, fired: false }));
  }

  now(): number {
    return this.time;
  }

  /** Integrates the fleet up to `target` (epoch ms), event by event. Never goes back in time. */
  advanceTo(target: number): void {
    for (let events = 0; events < MAX_EVENTS_PER_ADVANCE; events++)
      if (!this.step(target) && this.time >= target) return;
    throw new FerryError('INTERNAL', `the fleet simulation did not reach ${new Date(target).toISOString()}`);
  }

  /**
   * Integrates up to the next event and reacts to it, or up to `limit` if that comes first;
   * returns the time reached. (Stepping to the event's own span, not to its time: at epoch
   * milliseconds a time holds no finer than a quarter of a microsecond.)
   */
  advanceToNextEvent(limit: number): number {
    this.step(limit);
    return this.time;
  }

  /** One span of constant rates, up to the next event or `target`: whether an event happened. */
  private step(target: number): boolean {
    if (this.sharesStale) this.recomputeShares();
    let span = Math.max(0, target - this.time);
    for (const m of this.moving) span = Math.min(span, m.msToEvent());
    const faultAt = this.nextFaultAt();
    if (faultAt !== undefined) span = Math.min(span, Math.max(0, faultAt - this.time));
    for (const m of this.moving) m.advance(span);
    this.time = span >= target - this.time ? Math.max(this.time, target) : this.time + span;
    let happened = false;
    for (const m of this.moving)
      if (m.eventDue()) {
        m.reachEvent(this.time);
        happened = true;
      }
    if (this.fireDueFaults()) happened = true;
    this.settle();
    return happened;
  }

  /**
   * When the next event happens at today's rates (a pass ends, a final copy ends, a fault fires),
   * epoch ms; undefined when nothing moves. Until then every stream's rate is constant.
   */
  nextEventAt(): number | undefined {
    if (this.sharesStale) this.recomputeShares();
    let span = Number.POSITIVE_INFINITY;
    for (const m of this.moving) span = Math.min(span, m.msToEvent());
    const faultAt = this.nextFaultAt();
    const at = Math.min(this.time + span, faultAt ?? Number.POSITIVE_INFINITY);
    return Number.isFinite(at) ? Math.max(this.time, at) : undefined;
  }

  /** Where migration `id` is now, with the rates it has until the next event. */
  progress(id: string): SimProgress {
    if (this.sharesStale) this.recomputeShares();
    const m = this.migration(id);
    return {
      phase: m.phase,
      iteration: m.iteration,
      rateBytesPerS: m.moving ? m.rateBytesPerS : 0,
      dirtyBytesPerS: m.dirtyBytesPerS(),
      remainingBytes: m.remainingBytes(),
    };
  }

  inventory(): Fleet {
    return {
      hosts: [...this.hosts.values()].map((h) => {
        const failed = this.failedHosts.get(h.name);
        return failed === undefined
          ? { ...h, labels: [...h.labels] }
          : { ...h, labels: [...h.labels], schedulable: false, disabledReason: failed };
      }),
      instances: [...this.instances.values()].map((i) => ({ ...i })),
    };
  }

  setSchedulable(host: string, enabled: boolean, reason: string): void {
    const h = this.host(host);
    h.schedulable = enabled;
    h.disabledReason = enabled ? undefined : reason;
  }

  /** Why `request` cannot start now; empty when it can. */
  refusals(request: MigrationRequest): string[] {
    // Already started under this id (a runner whose record of the start was lost, say with the
    // Redis primary that held it): `start` takes it over even once it has completed, as the real
    // drivers' prechecks do.
    if (this.startedAs(request.migrationId)) return [];
    const { instance: name, from, to } = request;
    const instance = this.instances.get(name);
    if (!instance) return [this.unknownInstance(name)];
    const reasons: string[] = [];
    if (!instance.migratable)
      reasons.push(`${name} cannot be live-migrated: ${instance.notMigratableReason ?? 'not migratable'}`);
    if (instance.host !== from) reasons.push(`${name} runs on ${instance.host}, not on ${from}`);
    const running = this.byInstance.get(name);
    if (running && running.id !== request.migrationId)
      reasons.push(`${name} is already migrating to ${running.to} (${running.id})`);
    const host = this.hosts.get(to);
    if (!host) return [...reasons, `destination ${to} is not a host of the simulated fleet`];
    if (to === instance.host) reasons.push(`${name} already runs on ${to}`);
    const failed = this.failedHosts.get(to);
    if (failed) reasons.push(failed);
    if (!host.schedulable)
      reasons.push(`destination ${to} is disabled: ${host.disabledReason ?? 'no reason given'}`);
    const used = this.usage(to);
    if (used.vcpus + instance.vcpus > host.vcpus)
      reasons.push(`${to} has ${host.vcpus - used.vcpus} free vCPUs; ${name} needs ${instance.vcpus}`);
    if (used.memoryBytes + instance.memoryBytes > host.memoryBytes)
      reasons.push(
        `${to} has ${formatBytes(host.memoryBytes - used.memoryBytes, 'fixed')} free memory; ${name} needs ${formatBytes(instance.memoryBytes, 'fixed')}`,
      );
    return reasons;
  }

  /** The migration under way, or completed, with this id. */
  private startedAs(migrationId: string): SimMigration | undefined {
    const known = this.migrations.get(migrationId);
    return known && (known.moving || known.phase === 'completed') ? known : undefined;
  }

  /** Starts a migration, or returns the one under way (or completed) with the same id. */
  start(request: MigrationRequest, tuning: Tuning): SimMigration {
    const known = this.startedAs(request.migrationId);
    if (known) return known;
    if (!this.instances.has(request.instance))
      throw new NotFoundError(this.unknownInstance(request.instance));
    const reasons = this.refusals(request);
    if (reasons.length > 0)
      throw new DriverRefusedError(
        `cannot migrate ${request.instance} to ${request.to}: ${reasons.join('; ')}`,
      );
    const instance = this.instances.get(request.instance)!;
    const seed = this.options.seed;
    const migration = new SimMigration({
      id: request.migrationId,
      instance: instance.name,
      from: request.from,
      to: request.to,
      memoryBytes: instance.memoryBytes,
      dirtyBytesPerS: instance.dirtyBytesPerS,
      tuning,
      startedAt: this.time,
      jitter: (pass) => dirtyRateJitter(seed, request.migrationId, pass),
    });
    this.migrations.set(migration.id, migration);
    this.moving.push(migration);
    this.byInstance.set(instance.name, migration);
    this.sharesStale = true;
    return migration;
  }

  migration(id: string): SimMigration {
    const m = this.migrations.get(id);
    if (!m) throw new MigrationLostError(`no simulated migration ${id}`);
    return m;
  }

  tune(id: string, tuning: Partial<Tuning>): void {
    const m = this.migration(id);
    if (!m.moving) return;
    m.tune(tuning);
    if (tuning.maxBandwidthBytesPerS !== undefined) this.sharesStale = true;
  }

  switchToPostCopy(id: string): void {
    this.migration(id).switchToPostCopy(this.time);
    // A post-copy link drop with afterMs 0 fires at the switch itself.
    this.advanceTo(this.time);
  }

  pause(id: string): void {
    this.migration(id).pause(this.time);
  }

  recoverPostcopy(id: string): void {
    this.advanceTo(this.time);
    this.migration(id).recoverPostcopy();
    // The stream takes its share of the links again.
    this.sharesStale = true;
  }

  abort(id: string): void {
    this.migration(id).cancel(this.time);
    this.settle();
  }

  /** Adds a fault at run time; its `afterMs` counts from now at the earliest. */
  injectFault(fault: SimFault): void {
    if (fault.kind === 'destination-failure' || fault.kind === 'maintenance-failure') this.host(fault.host);
    this.faults.push({ fault, origin: this.time, fired: false });
    this.advanceTo(this.time);
  }

  /** Records that maintenance of `host` starts now. */
  maintenanceStarted(host: string): void {
    this.host(host);
    this.maintenanceRuns.push({ host, at: this.time });
  }

  /** A pending maintenance failure for `host` (consumed), or why the host cannot be maintained. */
  maintenanceFailure(host: string): string | undefined {
    this.host(host);
    const failed = this.failedHosts.get(host);
    if (failed) return `${host} is unreachable: ${failed}`;
    const state = this.faults.find(
      (f) => !f.fired && f.fault.kind === 'maintenance-failure' && f.fault.host === host,
    );
    if (state?.fault.kind !== 'maintenance-failure') return undefined;
    state.fired = true;
    return state.fault.output ?? `maintenance of ${host} failed (simulated)`;
  }

  snapshot(): SimSnapshot {
    return {
      at: this.time,
      fleet: this.inventory(),
      migrations: [...this.migrations.values()].map((m) => m.view()),
      failedHosts: Object.fromEntries(this.failedHosts),
      lostInstances: Object.fromEntries(this.lostInstances),
      maintenanceRuns: this.maintenanceRuns.map((r) => ({ ...r })),
    };
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new NotFoundError(`no host ${name} in the simulated fleet`);
    return h;
  }

  // ------------------------------------------------------------------------------------------

  private unknownInstance(name: string): string {
    const lost = this.lostInstances.get(name);
    return lost ? `${name} was lost: ${lost}` : `no instance ${name} in the simulated fleet`;
  }

  /** vCPUs and memory a host holds or has promised to migrations arriving there. */
  private usage(host: string): { vcpus: number; memoryBytes: number } {
    let vcpus = 0;
    let memoryBytes = 0;
    const count = (i: Instance) => {
      vcpus += i.vcpus;
      memoryBytes += i.memoryBytes;
    };
    for (const i of this.instances.values()) if (i.host === host) count(i);
    for (const m of this.moving) {
      const i = this.instances.get(m.instance);
      if (m.to === host && i) count(i);
    }
    return { vcpus, memoryBytes };
  }

  private recomputeShares(): void {
    const caps: StreamCaps = {
      streamCapBytesPerS: this.options.streamCapBytesPerS,
      channelCapBytesPerS: this.options.multifd?.channelCapBytesPerS ?? this.options.streamCapBytesPerS,
      coresPerChannel: this.options.multifd?.coresPerChannel ?? 0,
    };
    const channels = this.runnableChannels(caps);
    const streams = this.moving.map((m) => {
      const stream = migrationStream(channels.get(m.id), caps);
      return {
        id: m.id,
        from: m.from,
        to: m.to,
        capBytesPerS: m.capBytesPerS(stream.capBytesPerS),
        weight: stream.weight,
      };
    });
    const rates = fairShares(streams, this.links);
    for (const m of this.moving) m.rateBytesPerS = rates.get(m.id) ?? 0;
    this.sharesStale = false;
  }

  /**
   * The multifd channels each migration can run now: what it asked for, fewer where its hosts'
   * cores not given to guests cannot run every channel there (shared in proportion).
   */
  private runnableChannels(caps: StreamCaps): Map<string, number> {
    const runnable = new Map<string, number>();
    const multifd = this.moving.filter((m) => (m.tuning.multifdChannels ?? 1) > 1);
    if (multifd.length === 0) return runnable;
    const demand = new Map<string, number>();
    for (const m of multifd)
      for (const h of [m.from, m.to]) demand.set(h, (demand.get(h) ?? 0) + m.tuning.multifdChannels!);
    for (const m of multifd) {
      let n = m.tuning.multifdChannels!;
      for (const h of [m.from, m.to]) {
        const spare = (this.hosts.get(h)?.vcpus ?? 0) - this.usage(h).vcpus;
        // Its part of the host's spare cores, in proportion to the channels it asked for.
        n = Math.min(n, channelsWithinCpu(n, caps, (spare * m.tuning.multifdChannels!) / demand.get(h)!));
      }
      runnable.set(m.id, n);
    }
    return runnable;
  }

  /** Drops finished migrations from the streams and applies their outcome to the fleet. */
  private settle(): void {
    if (this.moving.every((m) => m.moving)) return;
    const still: SimMigration[] = [];
    for (const m of this.moving) {
      if (m.moving) {
        still.push(m);
        continue;
      }
      this.byInstance.delete(m.instance);
      const instance = this.instances.get(m.instance);
      if (m.phase === 'completed' && instance) instance.host = m.to;
    }
    this.moving = still;
    this.sharesStale = true;
  }

  /** When a pending fault would fire given the state now, if it can. */
  private faultAt(state: FaultState): number | undefined {
    const { fault, origin } = state;
    const delay = fault.kind === 'maintenance-failure' ? 0 : (fault.afterMs ?? 0);
    const after = (since: number | undefined) =>
      since === undefined ? undefined : Math.max(since, origin) + delay;
    switch (fault.kind) {
      case 'destination-failure':
        return after(origin);
      case 'maintenance-failure':
        return undefined;
      case 'stall': {
        const m = this.byInstance.get(fault.instance);
        return m && !m.stalled ? after(m.startedAt) : undefined;
      }
      case 'link-drop': {
        const m = this.byInstance.get(fault.instance);
        if (!m) return undefined;
        if (fault.during === 'precopy') return SOURCE_PHASES.has(m.phase) ? after(m.startedAt) : undefined;
        return m.phase === 'postcopy' ? after(m.postcopyAt) : undefined;
      }
    }
  }

  private nextFaultAt(): number | undefined {
    let next: number | undefined;
    for (const state of this.faults) {
      if (state.fired) continue;
      const at = this.faultAt(state);
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  private fireDueFaults(): boolean {
    let fired = false;
    for (const state of this.faults) {
      if (state.fired) continue;
      const at = this.faultAt(state);
      if (at === undefined || at > this.time) continue;
      state.fired = true;
      fired = true;
      this.fire(state.fault);
    }
    return fired;
  }

  private fire(fault: SimFault): void {
    const now = this.time;
    switch (fault.kind) {
      case 'destination-failure': {
        this.failedHosts.set(fault.host, faultMessages.destinationFailed(fault.host));
        for (const m of this.moving) {
          if (m.to !== fault.host || !m.moving) continue;
          if (m.phase === 'postcopy')
            this.lose(m, faultMessages.destinationFailedPostcopy(m.instance, fault.host));
          else m.fail(now, faultMessages.destinationFailedPrecopy(m.instance, fault.host, m.from));
        }
        return;
      }
      case 'stall': {
        const m = this.byInstance.get(fault.instance);
        if (m) m.stalled = true;
        this.sharesStale = true;
        return;
      }
      case 'link-drop': {
        const m = this.byInstance.get(fault.instance);
        if (!m) return;
        if (fault.during === 'postcopy') this.lose(m, faultMessages.linkDropPostcopy(m.instance, m.to));
        else m.fail(now, faultMessages.linkDropPrecopy(m.instance, m.from));
        return;
      }
      case 'maintenance-failure':
        return;
    }
  }

  /** A post-copy failure: the guest ran on the destination without all its memory; it is gone. */
  private lose(m: SimMigration, why: string): void {
    m.fail(this.time, why);
    this.instances.delete(m.instance);
    this.lostInstances.set(m.instance, why);
  }
}
