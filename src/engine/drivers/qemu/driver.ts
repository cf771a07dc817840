import { z } from 'zod';
import type { Clock } from '../../clock.js';
import {
  ConflictError,
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
  FerryError,
  MigrationLostError,
  NotFoundError,
  TimeoutError,
} from '../../errors.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import { type MaintenanceSettings, runMaintenanceOverSsh } from '../../ssh/maintenance.js';
import type { SshPool } from '../../ssh/pool.js';
import { assertName, renderCommand } from '../../ssh/quote.js';
import { ConfiguredFleet } from '../configured-fleet.js';
import type { Driver, MigrationHandle, MigrationRequest, PrecheckResult, Whereabouts } from '../driver.js';
import type { QemuConfig } from './config.js';
import {
  incomingPort,
  type MigrationInfo,
  migrationInfoSchema,
  RUNNING_QEMU_STATUSES,
  sampleFromMigrationInfo,
} from './migrate-info.js';
import { QmpClient } from './qmp.js';

const statusSchema = z.looseObject({ running: z.boolean(), status: z.string() });
type RunState = z.infer<typeof statusSchema>;

/** Bandwidth ferry sets when a migration is uncapped: QEMU's own default would cap it at 128 MiB/s. */
const UNCAPPED_BYTES_PER_S = 2 ** 40;
/** QEMU's largest downtime-limit (ms): after a pause the guest is stopped anyway, so switch at once. */
const MAX_DOWNTIME_LIMIT_MS = 2_000_000;
const TRIGGER_ARMED = 100;
/** Post-copy states a recovery starts from: running but stuck, or already paused by QEMU. */
const POSTCOPY_STALLABLE = ['postcopy-active', 'postcopy-paused'];
const TRIGGER_THROTTLE = 50;

interface Active {
  handle: MigrationHandle;
  sourceSocket: string;
  destinationSocket: string;
  /** ferry stopped the guest to force completion. */
  paused: boolean;
  /** auto-converge capability set at start. */
  armed: boolean;
  /** Wakes a waiter when the source reports a MIGRATION event (a status change). */
  wake?: () => void;
  /** Set once the migration ended and the driver has tidied up: later samples repeat it. */
  final?: ProgressSample;
}

export interface QemuDriverOptions {
  fleet: Fleet;
  ssh: SshPool;
  config: QemuConfig;
  clock: Clock;
  /** Address each host's incoming QEMU listens on (config, else the SSH address). */
  migrationAddress: (host: string) => string;
  maintenance?: MaintenanceSettings;
}

/**
 * Live migration with QEMU itself: QMP on each guest's monitor socket, reached through SSH
 * stream-local forwarding. The destination QEMU is started by a command template from config
 * (`-incoming defer`), then told where to listen with `migrate-incoming`.
 */
export class QemuDriver implements Driver {
  readonly kind = 'qemu' as const;
  readonly postcopyRecovery =
    'QEMU can resume a broken post-copy: on the source QMP `migrate-pause`, then once the link is back `migrate-recover` on the destination and `migrate` with `resume: true` on the source; keep the source host up meanwhile';
  private readonly active = new Map<string, Active>();
  private readonly monitors = new Map<string, Promise<QmpClient>>();
  private readonly watched = new WeakSet<QmpClient>();
  private readonly fleet: ConfiguredFleet;

  constructor(private readonly options: QemuDriverOptions) {
    this.fleet = new ConfiguredFleet(options.fleet);
  }

  async inventory(): Promise<Fleet> {
    return this.fleet.inventory();
  }

  async setSchedulable(host: string, enabled: boolean, reason: string): Promise<void> {
    this.fleet.setSchedulable(host, enabled, reason);
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    const reasons: string[] = [];
    try {
      this.validate(request);
      if (!this.options.ssh.hosts().includes(request.to))
        reasons.push(`no SSH settings for destination ${request.to}`);
      // This migration already started (a runner replaced between `start` and recording it):
      // `start` takes it over, even if it has completed meanwhile and the source copy is stopped.
      else if (await this.alreadyStarted(request)) return { ok: true };
      const state = await this.runState(request.from, this.socket(request.from, request.instance));
      if (!state.running && state.status !== 'paused')
        reasons.push(`${request.instance} is not running on ${request.from} (${state.status})`);
      const there = await this.runState(request.to, this.socket(request.to, request.instance)).catch(
        () => undefined,
      );
      if (there && there.status !== 'inmigrate')
        reasons.push(`${request.instance} already runs on ${request.to}`);
    } catch (err) {
      reasons.push(err instanceof FerryError ? err.userMessage : String(err));
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
  }

  async start(request: MigrationRequest, tuning: Tuning): Promise<MigrationHandle> {
    this.validate(request);
    const known = this.active.get(request.migrationId);
    if (known) return known.handle;
    const handle = this.handleFor(request);
    const found = await this.findExisting(handle);
    if (found) {
      this.active.set(handle.migrationId, found);
      return handle;
    }

    const { sourceSocket, destinationSocket } = this.sockets(handle);
    const port = await this.prepareDestination(handle, destinationSocket, tuning);
    const armed = tuning.autoConverge || (this.options.config.armAutoConverge ?? false);
    try {
      const src = await this.qmp(handle.from, sourceSocket);
      await src.execute('migrate-set-capabilities', {
        capabilities: [
          { capability: 'events', state: true },
          { capability: 'auto-converge', state: armed },
          { capability: 'postcopy-ram', state: tuning.postcopyCapable },
          ...multifdCapability(tuning),
        ],
      });
      await src.execute('migrate-set-parameters', {
        ...multifdParameters(tuning),
        'downtime-limit': Math.round(tuning.downtimeLimitMs),
        'max-bandwidth': Math.round(tuning.maxBandwidthBytesPerS ?? UNCAPPED_BYTES_PER_S),
        ...(armed
          ? {
              'cpu-throttle-initial': this.options.config.cpuThrottleInitial,
              'cpu-throttle-increment': this.options.config.cpuThrottleIncrement,
              'throttle-trigger-threshold': tuning.autoConverge ? TRIGGER_THROTTLE : TRIGGER_ARMED,
            }
          : {}),
      });
      await checkMultifd(src, handle.from, tuning);
      await src.execute('migrate', { uri: `tcp:${this.options.migrationAddress(handle.to)}:${port}` });
      this.active.set(handle.migrationId, {
        handle,
        sourceSocket,
        destinationSocket,
        paused: false,
        armed,
      });
      this.watch(src, handle.migrationId);
    } catch (err) {
      await this.cleanupDestination(handle, destinationSocket);
      throw err;
    }
    return handle;
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    const active = await this.activeFor(handle);
    if (active.final) return { ...active.final };
    let info: MigrationInfo;
    let state: RunState;
    try {
      const src = await this.qmp(handle.from, active.sourceSocket);
      this.watch(src, handle.migrationId);
      info = await src.query('query-migrate', migrationInfoSchema);
      state = await src.query('query-status', statusSchema);
    } catch (err) {
      // The source QEMU quits once a migration completes: the destination then tells.
      const done = await this.completedOnDestination(active);
      if (done) return done;
      throw this.lostOr(err, handle, active.sourceSocket);
    }
    const now = this.options.clock.now();
    if (info.status === undefined || info.status === 'none') {
      const lost: ProgressSample = {
        ...sampleFromMigrationInfo(info, now),
        status: 'failed',
        error: `QEMU on ${handle.from} has no migration of ${handle.instance} (restarted?)`,
      };
      await this.finishFailed(active, lost);
      return lost;
    }
    const sample = sampleFromMigrationInfo(info, now, { paused: active.paused || state.status === 'paused' });
    if (sample.status === 'completed') await this.finishCompleted(active, sample);
    else if (sample.status === 'failed' || sample.status === 'cancelled')
      await this.finishFailed(active, sample);
    return sample;
  }

  /** The QEMU that answers for the guest (destination first), or none with the reason. */
  async locate(handle: MigrationHandle): Promise<Whereabouts> {
    const gone: string[] = [];
    for (const host of [handle.to, handle.from]) {
      const socket = this.socket(host, handle.instance);
      let state: RunState;
      try {
        state = await this.runState(host, socket);
      } catch (err) {
        const lost = this.lostOr(err, handle, socket, host);
        if (!(lost instanceof MigrationLostError)) throw lost; // cannot tell: not "nowhere"
        gone.push(`no QEMU monitor at ${host}:${socket}`);
        continue;
      }
      // An incoming QEMU that never took over, or the stopped copy a migration leaves behind.
      if (state.status === 'inmigrate' || state.status === 'postmigrate' || state.status === 'shutdown') {
        gone.push(`QEMU on ${host} is ${state.status}`);
        continue;
      }
      if (host === handle.to) this.fleet.moved(handle.instance, handle.to);
      return { host, running: state.running, detail: `QEMU ${state.status}` };
    }
    return { detail: gone.join('; ') };
  }

  async tune(handle: MigrationHandle, tuning: Partial<Tuning>): Promise<void> {
    const active = await this.activeFor(handle);
    const params: Record<string, number> = {};
    if (tuning.downtimeLimitMs !== undefined) params['downtime-limit'] = Math.round(tuning.downtimeLimitMs);
    if (tuning.maxBandwidthBytesPerS !== undefined)
      params['max-bandwidth'] = Math.round(tuning.maxBandwidthBytesPerS);
    if (tuning.autoConverge !== undefined) {
      if (!active.armed && tuning.autoConverge)
        throw new DriverRefusedError(
          `QEMU cannot turn auto-converge on during a migration; ${handle.instance}'s started without it (qemu.armAutoConverge is off)`,
        );
      if (active.armed)
        params['throttle-trigger-threshold'] = tuning.autoConverge ? TRIGGER_THROTTLE : TRIGGER_ARMED;
    }
    if (Object.keys(params).length === 0) return;
    const src = await this.qmp(handle.from, active.sourceSocket);
    await src.execute('migrate-set-parameters', params);
  }

  async switchToPostCopy(handle: MigrationHandle): Promise<void> {
    const active = await this.activeFor(handle);
    const src = await this.qmp(handle.from, active.sourceSocket);
    await src.execute('migrate-start-postcopy');
  }

  /**
   * QEMU's post-copy recovery: `migrate-pause` on each side still in `postcopy-active` (with a
   * link that drops packets neither side notices: TCP keeps retrying for many minutes), then
   * `migrate-recover` on the destination, listening on a new port, and `migrate` with `resume`
   * on the source, which connects once the link carries packets again.
   */
  async recoverPostcopy(handle: MigrationHandle): Promise<void> {
    const active = await this.activeFor(handle);
    if (active.final)
      throw new ConflictError(`the migration of ${handle.instance} has ended; nothing to recover`);
    const src = await this.qmp(handle.from, active.sourceSocket);
    const dst = await this.qmp(handle.to, active.destinationSocket);
    const status = async (side: QmpClient) =>
      (await side.query('query-migrate', migrationInfoSchema)).status ?? 'none';
    for (const side of [src, dst]) {
      const now = await status(side);
      if (now === 'postcopy-active') await side.execute('migrate-pause');
      else if (!POSTCOPY_STALLABLE.includes(now))
        throw new ConflictError(
          `${handle.instance}'s migration is ${now}, not in post-copy: nothing to recover`,
        );
    }
    const deadline = this.options.clock.now() + this.options.config.qmpTimeoutS * 1000;
    for (;;) {
      const [s, d] = await Promise.all([status(src), status(dst)]);
      if (s === 'postcopy-paused' && d === 'postcopy-paused') break;
      if (this.options.clock.now() > deadline)
        throw new TimeoutError(
          `QEMU did not pause ${handle.instance}'s post-copy (source ${s}, destination ${d})`,
        );
      await this.options.clock.sleep(100);
    }
    await dst.execute('migrate-recover', { uri: `tcp:${this.options.migrationAddress(handle.to)}:0` });
    const port = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
    if (port === undefined)
      throw new DriverRefusedError(`the destination QEMU on ${handle.to} reports no port to recover on`);
    await src.execute('migrate', {
      uri: `tcp:${this.options.migrationAddress(handle.to)}:${port}`,
      resume: true,
    });
  }

  async pause(handle: MigrationHandle): Promise<void> {
    const active = await this.activeFor(handle);
    const src = await this.qmp(handle.from, active.sourceSocket);
    await src.execute('stop');
    active.paused = true;
    await src.execute('migrate-set-parameters', { 'downtime-limit': MAX_DOWNTIME_LIMIT_MS });
  }

  async abort(handle: MigrationHandle): Promise<void> {
    const active = await this.activeFor(handle);
    if (active.final) return;
    const src = await this.qmp(handle.from, active.sourceSocket);
    this.watch(src, handle.migrationId);
    await src.execute('migrate_cancel');
    const deadline = this.options.clock.now() + this.options.config.qmpTimeoutS * 3000;
    for (;;) {
      const changed = new Promise<void>((resolve) => {
        active.wake = resolve;
      });
      const sample = await this.sample(handle);
      if (active.final) return;
      if (this.options.clock.now() > deadline)
        throw new TimeoutError(
          `QEMU on ${handle.from} did not confirm the cancel of ${handle.instance} (${sample.status})`,
        );
      await Promise.race([changed, this.options.clock.sleep(250)]);
    }
  }

  async runMaintenance(host: string): Promise<{ ok: boolean; output: string }> {
    return runMaintenanceOverSsh(this.options.ssh, host, this.options.maintenance);
  }

  async close(): Promise<void> {
    for (const m of this.monitors.values()) m.then((c) => c.close()).catch(() => undefined);
    this.monitors.clear();
    await this.options.ssh.close();
  }

  // ------------------------------------------------------------------------------------------

  private validate(request: MigrationRequest): void {
    assertName(request.instance, 'instance');
    assertName(request.from, 'host');
    assertName(request.to, 'host');
    if (request.from === request.to)
      throw new ConflictError(`${request.instance}: source and destination are both ${request.from}`);
  }

  private socket(host: string, instance: string): string {
    return this.options.config.qmpSocket.replaceAll('{host}', host).replaceAll('{instance}', instance);
  }

  private sockets(handle: MigrationHandle): { sourceSocket: string; destinationSocket: string } {
    return {
      sourceSocket: this.socket(handle.from, handle.instance),
      destinationSocket: this.socket(handle.to, handle.instance),
    };
  }

  private handleFor(request: MigrationRequest): MigrationHandle {
    const { migrationId, instance, from, to } = request;
    return {
      migrationId,
      instance,
      from,
      to,
      ref: JSON.stringify(this.sockets({ migrationId, instance, from, to })),
    };
  }

  /** The in-memory record, or one rebuilt from what QEMU says (after a restart of ferry). */
  private async activeFor(handle: MigrationHandle): Promise<Active> {
    const known = this.active.get(handle.migrationId);
    if (known) return known;
    const found = await this.findExisting(handle);
    if (!found)
      throw new MigrationLostError(
        `QEMU on ${handle.from} has no migration of ${handle.instance} (query-migrate shows none)`,
      );
    this.active.set(handle.migrationId, found);
    return found;
  }

  /** Whether `start` would take over a migration that exists already (remembered for it). */
  private async alreadyStarted(request: MigrationRequest): Promise<boolean> {
    if (this.active.has(request.migrationId)) return true;
    const found = await this.findExisting(this.handleFor(request)).catch(() => undefined);
    if (found) this.active.set(request.migrationId, found);
    return found !== undefined;
  }

  /** A migration of this instance already under way (or just finished) on the source. */
  private async findExisting(handle: MigrationHandle): Promise<Active | undefined> {
    const { sourceSocket, destinationSocket } = this.sockets(handle);
    const record: Active = { handle, sourceSocket, destinationSocket, paused: false, armed: false };
    let info: MigrationInfo;
    let state: RunState;
    try {
      const src = await this.qmp(handle.from, sourceSocket);
      info = await src.query('query-migrate', migrationInfoSchema);
      state = await src.query('query-status', statusSchema);
      const caps = await src.query(
        'query-migrate-capabilities',
        z.array(z.object({ capability: z.string(), state: z.boolean() })),
      );
      record.armed = caps.some((c) => c.capability === 'auto-converge' && c.state);
    } catch (err) {
      const done = await this.completedOnDestination(record);
      if (done) return record;
      throw this.lostOr(err, handle, sourceSocket);
    }
    const status = info.status ?? 'none';
    if (RUNNING_QEMU_STATUSES.includes(status)) {
      record.paused = state.status === 'paused';
      return record;
    }
    // Completed, and the source is the stopped copy left behind: this migration, not an older one.
    if (status === 'completed' && state.status === 'postmigrate') return record;
    return undefined;
  }

  /** If the guest runs on the destination after a completed incoming migration, the final sample. */
  private async completedOnDestination(active: Active): Promise<ProgressSample | undefined> {
    if (active.final) return { ...active.final };
    try {
      const dst = await this.qmp(active.handle.to, active.destinationSocket);
      const info = await dst.query('query-migrate', migrationInfoSchema);
      const state = await dst.query('query-status', statusSchema);
      if (info.status !== 'completed' || state.status === 'inmigrate') return undefined;
      const sample = sampleFromMigrationInfo(info, this.options.clock.now());
      await this.finishCompleted(active, sample);
      return { ...sample };
    } catch {
      return undefined;
    }
  }

  /** Starts the incoming QEMU (or finds the one a crashed attempt left) and returns its port. */
  private async prepareDestination(handle: MigrationHandle, socket: string, tuning: Tuning): Promise<number> {
    const { to, instance } = handle;
    let dst = await this.qmp(to, socket).catch(() => undefined);
    if (dst) {
      const state = await dst.query('query-status', statusSchema);
      if (state.status !== 'inmigrate') throw new ConflictError(`${instance} already runs on ${to}`);
    } else {
      const command = renderCommand(this.options.config.incomingCommand, {
        instance,
        host: to,
        source: handle.from,
        qmpSocket: socket,
      });
      const r = await this.options.ssh.exec(to, command, {
        timeoutMs: this.options.config.incomingTimeoutS * 1000,
      });
      if (r.code !== 0)
        throw new DriverRefusedError(
          `starting the incoming QEMU for ${instance} on ${to} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`,
        );
      dst = await this.waitForMonitor(to, socket);
    }
    const listening = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
    if (listening !== undefined) return listening;
    try {
      await dst.execute('migrate-set-capabilities', {
        capabilities: [
          { capability: 'events', state: true },
          { capability: 'postcopy-ram', state: tuning.postcopyCapable },
          ...multifdCapability(tuning),
        ],
      });
      // The incoming side opens as many channels as the source sends: it must know them first.
      if (multifdOf(tuning) > 1) await dst.execute('migrate-set-parameters', multifdParameters(tuning));
      await checkMultifd(dst, to, tuning);
      await dst.execute('migrate-incoming', { uri: `tcp:${this.options.migrationAddress(to)}:0` });
      const port = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
      if (port === undefined)
        throw new DriverRefusedError(`the incoming QEMU on ${to} reports no listening port`);
      return port;
    } catch (err) {
      await this.cleanupDestination(handle, socket);
      throw err;
    }
  }

  private async waitForMonitor(host: string, socket: string): Promise<QmpClient> {
    const deadline = this.options.clock.now() + this.options.config.incomingTimeoutS * 1000;
    for (;;) {
      try {
        return await this.qmp(host, socket);
      } catch (err) {
        if (this.options.clock.now() > deadline)
          throw new TimeoutError(
            `the incoming QEMU on ${host} did not open ${socket}: ${(err as Error).message}`,
          );
        await this.options.clock.sleep(100);
      }
    }
  }

  /** The guest runs on the destination: resume it if it arrived paused, stop the source copy. */
  private async finishCompleted(active: Active, sample: ProgressSample): Promise<void> {
    const { handle } = active;
    try {
      const dst = await this.qmp(handle.to, active.destinationSocket);
      const deadline = this.options.clock.now() + this.options.config.qmpTimeoutS * 1000;
      let state = await dst.query('query-status', statusSchema);
      while (state.status === 'inmigrate' && this.options.clock.now() < deadline) {
        await this.options.clock.sleep(50);
        state = await dst.query('query-status', statusSchema);
      }
      // A guest paused for the switchover arrives paused (QEMU carries the run state across).
      if (!state.running) await dst.execute('cont');
    } catch (err) {
      sample.error = `migrated, but resuming ${handle.instance} on ${handle.to} failed: ${(err as Error).message}`;
    }
    await this.quit(handle.from, active.sourceSocket);
    this.fleet.moved(handle.instance, handle.to);
    active.final = { ...sample };
  }

  /** The guest stays on the source: make sure it runs, and clear the half-built destination. */
  private async finishFailed(active: Active, sample: ProgressSample): Promise<void> {
    const { handle } = active;
    if (active.paused) {
      const src = await this.qmp(handle.from, active.sourceSocket);
      await src.execute('cont');
      active.paused = false;
      sample.paused = false;
    }
    await this.cleanupDestination(handle, active.destinationSocket);
    active.final = { ...sample };
  }

  /** Quits the incoming QEMU if it never took over (never a running guest), then the cleanup command. */
  private async cleanupDestination(handle: MigrationHandle, socket: string): Promise<void> {
    const state = await this.runState(handle.to, socket).catch(() => undefined);
    if (state && state.status !== 'inmigrate' && state.status !== 'shutdown') return;
    if (state) await this.quit(handle.to, socket);
    const command = this.options.config.cleanupCommand;
    if (command)
      await this.options.ssh
        .exec(
          handle.to,
          renderCommand(command, {
            instance: handle.instance,
            host: handle.to,
            source: handle.from,
            qmpSocket: socket,
          }),
        )
        .catch(() => undefined);
  }

  /**
   * A monitor the host's sshd refused to connect to (its socket is absent or nobody listens: the
   * QEMU is gone) as MigrationLostError; anything else (SSH down, a timeout) as it is, since the
   * QEMU may still be there.
   */
  private lostOr(err: unknown, handle: MigrationHandle, socket: string, host = handle.from): unknown {
    const refused = err instanceof NotFoundError && /open failed|connect failed/i.test(err.userMessage);
    return refused && !/administratively/i.test(err.userMessage)
      ? new MigrationLostError(
          `the QEMU of ${handle.instance} on ${host} is gone (nothing listens at ${socket})`,
          {
            cause: err,
          },
        )
      : err;
  }

  private async runState(host: string, socket: string): Promise<RunState> {
    const client = await this.qmp(host, socket);
    return client.query('query-status', statusSchema);
  }

  /** `quit` may reset the connection before QEMU answers (QEMU 10): either way it is gone. */
  private async quit(host: string, socket: string): Promise<void> {
    const client = await this.qmp(host, socket).catch(() => undefined);
    await client?.execute('quit').catch(() => undefined);
    client?.close();
  }

  /** MIGRATION events wake whoever waits on a status change, instead of waiting for the next poll. */
  private watch(client: QmpClient, migrationId: string): void {
    if (this.watched.has(client)) return;
    this.watched.add(client);
    client.onEvent((e) => {
      if (e.event === 'MIGRATION') this.active.get(migrationId)?.wake?.();
    });
  }

  /** A QMP connection to a socket on a host, reused while it stays open. */
  private qmp(host: string, socket: string): Promise<QmpClient> {
    const key = `${host}\u0000${socket}`;
    const cached = this.monitors.get(key);
    if (cached) {
      return cached.then(
        (c) => (c.isOpen ? c : this.openMonitor(key, host, socket)),
        () => this.openMonitor(key, host, socket),
      );
    }
    return this.openMonitor(key, host, socket);
  }

  private openMonitor(key: string, host: string, socket: string): Promise<QmpClient> {
    const opening = (async () => {
      const stream = await this.options.ssh.openStreamLocal(host, socket);
      return QmpClient.connect(stream, {
        label: `${host}:${socket}`,
        timeoutMs: this.options.config.qmpTimeoutS * 1000,
      });
    })();
    this.monitors.set(key, opening);
    const forget = () => {
      if (this.monitors.get(key) === opening) this.monitors.delete(key);
    };
    opening.then((c) => c.onClose(forget), forget);
    return opening.catch((err) => {
      throw err instanceof FerryError
        ? err
        : new DriverUnreachableError(`QMP at ${host}:${socket}`, { cause: err });
    });
  }
}

/** A migration's multifd channels (1: one stream, multifd left as QEMU has it). */
function multifdOf(tuning: Tuning): number {
  return tuning.multifdChannels ?? 1;
}

/** QEMU's `multifd` capability, set only for a multifd migration (both sides need it). */
function multifdCapability(tuning: Tuning): { capability: string; state: boolean }[] {
  return multifdOf(tuning) > 1 ? [{ capability: 'multifd', state: true }] : [];
}

function multifdParameters(tuning: Tuning): Record<string, number> {
  return multifdOf(tuning) > 1 ? { 'multifd-channels': multifdOf(tuning) } : {};
}

const multifdStateSchema = z.array(z.looseObject({ capability: z.string(), state: z.boolean() }));
const multifdParamsSchema = z.looseObject({ 'multifd-channels': z.number().int().optional() });

/**
 * Reads back what a multifd migration was set to: QEMU answers `migrate-set-*` with `{}`, so
 * only its own `query-migrate-capabilities` and `-parameters` show the channels took.
 */
async function checkMultifd(client: QmpClient, host: string, tuning: Tuning): Promise<void> {
  const channels = multifdOf(tuning);
  if (channels <= 1) return;
  const caps = await client.query('query-migrate-capabilities', multifdStateSchema);
  const params = await client.query('query-migrate-parameters', multifdParamsSchema);
  const on = caps.find((c) => c.capability === 'multifd')?.state === true;
  if (!on || params['multifd-channels'] !== channels)
    throw new DriverReplyError(
      `QEMU on ${host} reports multifd ${on ? 'on' : 'off'} with ${params['multifd-channels'] ?? 'no'} channels after ferry set ${channels}`,
    );
}
