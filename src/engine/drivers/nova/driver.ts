import { z } from 'zod';
import type { Clock } from '../../clock.js';
import {
  ConflictError,
  DriverRefusedError,
  DriverUnreachableError,
  FerryError,
  InputError,
  MigrationLostError,
  NotFoundError,
  TimeoutError,
} from '../../errors.js';
import type { Fleet, ProgressSample, Tuning } from '../../model.js';
import type { Driver, DriverLacks, MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import { NovaApi } from './api.js';
import type { NovaConfig } from './config.js';
import type { Fetch } from './http.js';
import { DOWN_CELL, notMigratableReason, readFleet } from './inventory.js';
import { countersOf, inProgress, RateEstimator, sampleStatus } from './progress.js';
import { type AnyServer, hostOf, isDownCell, type MigrationRecord, type Server } from './schemas.js';

export interface NovaDriverOptions {
  config: NovaConfig;
  clock: Clock;
  /** Injectable for tests; the global fetch otherwise. */
  fetch?: Fetch;
  /** How often `start` looks for the migration Nova accepted, ms. */
  pollMs?: number;
}

/** What a handle's `ref` holds: the server and Nova's migration id. */
const refSchema = z.object({ serverId: z.string().min(1), migrationId: z.number().int() });
type NovaRef = z.infer<typeof refSchema>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Nova's limit on a service's disabled_reason. */
const MAX_REASON = 255;

/**
 * Live migration through the OpenStack Compute API (microversions 2.80 to 2.104), authenticated
 * by Keystone. Hosts are nova-compute service hosts; instances are servers, named by their
 * server name (or their id where two servers share a name).
 *
 * What Nova cannot do, and what the driver does instead:
 * - tune: Nova has no per-migration downtime or bandwidth knob (they are nova.conf settings on
 *   the computes: live_migration_downtime*, live_migration_bandwidth), so tune is a no-op.
 * - switchToPostCopy and pause both call force_complete: Nova switches to post-copy when the
 *   compute has live_migration_permit_post_copy, and pauses the guest otherwise. Which one
 *   happens is the compute's configuration, not ferry's choice. Nova takes it for ACTIVE
 *   servers only: a PAUSED server's move never offers one (Instance.switchoverRefused).
 * - dirty rate, bandwidth and pass are not reported: they are estimated from successive
 *   samples (see RateEstimator); nicBytesPerS and instances' dirty rates come from config.
 * - Nova shows byte counters only while a migration is `running`; before (accepted, queued,
 *   preparing) and in post-copy the phase comes from os-migrations with the last counters seen.
 * - runMaintenance throws UNSUPPORTED: Nova runs nothing on a compute host.
 */
/** Nova has no per-migration auto-converge: the computes' nova.conf decides it. */
/** Neither auto-converge nor multifd can be set per migration: both are nova.conf's (`[libvirt]`). */
export const NOVA_LACKS: DriverLacks = { autoConverge: true, multifd: true };

export class NovaDriver implements Driver {
  readonly kind = 'nova' as const;
  /** Nova has no per-migration auto-converge switch (`live_migration_permit_auto_converge` is nova.conf's). */
  readonly lacks = NOVA_LACKS;
  private readonly api: NovaApi;
  private readonly handles = new Map<string, MigrationHandle>();
  private readonly estimators = new Map<string, RateEstimator>();
  private readonly finals = new Map<string, ProgressSample>();

  constructor(private readonly options: NovaDriverOptions) {
    this.api = new NovaApi({ config: options.config, clock: options.clock, fetch: options.fetch });
  }

  inventory(): Promise<Fleet> {
    return readFleet(this.api, this.options.config);
  }

  async setSchedulable(host: string, enabled: boolean, reason: string): Promise<void> {
    const services = (await this.api.computeServices(host)).filter((s) => s.host === host);
    if (services.length === 0) throw new NotFoundError(`Nova has no nova-compute service on host ${host}`);
    for (const service of services) {
      if (isDownCell(service))
        throw new DriverUnreachableError(
          `nova-compute on ${host} is ${DOWN_CELL}: its service cannot be changed`,
        );
      const updated = await this.api.updateService(
        service.id,
        enabled
          ? { status: 'enabled' }
          : { status: 'disabled', disabled_reason: reason.slice(0, MAX_REASON) || 'ferry' },
      );
      const wanted = enabled ? 'enabled' : 'disabled';
      if (updated.status !== wanted)
        throw new DriverRefusedError(`Nova left nova-compute on ${host} ${updated.status}, not ${wanted}`);
    }
  }

  async precheck(request: MigrationRequest): Promise<PrecheckResult> {
    const reasons: string[] = [];
    try {
      const server = await this.resolveServer(request.instance);
      const host = hostOf(server);
      // A migration of this server already under way from the source (a restart between Nova's
      // 202 and ferry's record of it): start() re-attaches to it, nothing to check.
      const newest = (await this.api.liveMigrationHistory(server.id))[0];
      if (newest && inProgress(newest.status) && newest.source_compute === request.from) return { ok: true };
      if (host !== request.from)
        reasons.push(`${request.instance} is on ${host ?? 'no host'}, not ${request.from}`);
      const reason = notMigratableReason(server);
      if (reason) reasons.push(`${request.instance}: ${reason}`);
      if (this.options.config.scheduler === 'ferry') {
        if (request.to === request.from) reasons.push(`${request.to} is both source and destination`);
        const services = (await this.api.computeServices(request.to)).filter((s) => s.host === request.to);
        const service = services[0];
        if (!service) reasons.push(`Nova has no nova-compute service on ${request.to}`);
        else if (isDownCell(service)) reasons.push(`nova-compute on ${request.to} is ${DOWN_CELL}`);
        else if (service.status === 'disabled')
          reasons.push(`${request.to} is disabled in Nova (${service.disabled_reason ?? 'no reason given'})`);
        else if (service.state === 'down') reasons.push(`nova-compute on ${request.to} is down`);
      }
    } catch (err) {
      reasons.push(err instanceof FerryError ? err.userMessage : String(err));
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
  }

  /**
   * os-migrateLive with block_migration "auto" (and the request's host unless scheduler is
   * `nova`). Idempotent: a migration of the server still under way in any phase (accepted to
   * post-copy: os-migrations, since GET /servers/{id}/migrations omits accepted and post-copy)
   * is reused, and one that already completed to the destination is returned as is. Nova does
   * not take `tuning`.
   */
  async start(request: MigrationRequest, _tuning: Tuning): Promise<MigrationHandle> {
    const known = this.handles.get(request.migrationId);
    if (known) return known;
    const server = await this.resolveServer(request.instance);
    const newest = (await this.api.liveMigrationHistory(server.id))[0];
    if (newest && inProgress(newest.status)) return this.remember(request, server.id, newest);
    const host = hostOf(server);
    if (newest?.status === 'completed' && host === newest.dest_compute && host !== request.from)
      return this.remember(request, server.id, newest);
    if (host !== request.from)
      throw new ConflictError(
        `${request.instance} is on ${host ?? 'no host'}, not ${request.from}: not started`,
      );
    const destination = this.options.config.scheduler === 'nova' ? null : request.to;
    await this.api.liveMigrate(server.id, destination);
    return this.awaitAccepted(request, server, newest?.id ?? 0);
  }

  async sample(handle: MigrationHandle): Promise<ProgressSample> {
    const ref = parseRef(handle);
    const key = refKey(ref);
    const final = this.finals.get(key);
    if (final) return { ...final };
    const estimator = this.estimatorFor(key);
    try {
      const migration = await this.api.serverMigration(ref.serverId, ref.migrationId);
      const status = sampleStatus(migration.status);
      if (status === 'active') {
        const at = this.options.clock.now();
        const counters = countersOf(migration);
        return { at, status, ...counters, ...estimator.observe(at, counters) };
      }
    } catch (err) {
      // Nova shows counters for queued..post-migrating only: 404 in any other phase or after the end.
      if (!(err instanceof NotFoundError)) throw err;
    }
    const record = (await this.api.liveMigrationHistory(ref.serverId)).find((m) => m.id === ref.migrationId);
    if (!record)
      throw new MigrationLostError(
        `Nova has no live migration ${ref.migrationId} of ${handle.instance} any more`,
      );
    if (inProgress(record.status)) {
      const at = this.options.clock.now();
      return { at, status: sampleStatus(record.status), ...estimator.lastCounters(), ...estimator.current() };
    }
    return this.conclude(handle, ref, record, estimator);
  }

  /** A no-op: Nova has no per-migration downtime, bandwidth or auto-converge setting. */
  async tune(_handle: MigrationHandle, _tuning: Partial<Tuning>): Promise<void> {}

  /** force_complete: post-copy where the compute permits it, else Nova pauses the guest. */
  async switchToPostCopy(handle: MigrationHandle): Promise<void> {
    const ref = parseRef(handle);
    await this.api.forceComplete(ref.serverId, ref.migrationId);
  }

  /** force_complete: Nova pauses the guest (or switches to post-copy when the compute permits it). */
  async pause(handle: MigrationHandle): Promise<void> {
    await this.switchToPostCopy(handle);
  }

  /**
   * DELETE the migration: Nova cancels it and the server stays on its source, ACTIVE. Nova
   * cancels only ACTIVE servers' migrations while `running` (or queued/preparing, 2.65+): in
   * post-copy, or for a PAUSED server, it refuses and the error says so.
   */
  async abort(handle: MigrationHandle): Promise<void> {
    const ref = parseRef(handle);
    try {
      await this.api.abortMigration(ref.serverId, ref.migrationId);
    } catch (err) {
      const over = err instanceof NotFoundError || (err instanceof DriverRefusedError && !err.retryable);
      if (!over) throw err;
      const sample = await this.sample(handle);
      if (sample.status === 'completed')
        throw new ConflictError(
          `${handle.instance} already completed its migration to ${handle.to}: nothing to abort`,
        );
      if (sample.status !== 'failed' && sample.status !== 'cancelled') throw err;
    }
  }

  async runMaintenance(host: string): Promise<{ ok: boolean; output: string }> {
    throw new FerryError(
      'UNSUPPORTED',
      `the nova driver cannot run maintenance on ${host}: Nova runs no commands on compute hosts; ` +
        'run your own tooling on the drained host, then re-enable it with ferry',
    );
  }

  async close(): Promise<void> {
    this.handles.clear();
    this.estimators.clear();
    this.finals.clear();
  }

  // ------------------------------------------------------------------------------------------

  /** A server by id, or by a name that exactly one server has; one Nova cannot see is refused. */
  private async resolveServer(instance: string): Promise<Server> {
    if (UUID.test(instance)) return visible(await this.api.server(instance));
    // At 2.69+ Nova adds a down cell's servers to every listing, whatever the filter: drop them.
    const matches = (await this.api.servers({ name: `^${escapeRegex(instance)}$` })).filter(
      (s): s is Server => !isDownCell(s) && s.name === instance,
    );
    if (matches.length === 0) throw new NotFoundError(`Nova has no server named ${instance}`);
    if (matches.length > 1)
      throw new ConflictError(`${matches.length} servers are named ${instance} in Nova: use the server id`);
    return matches[0]!;
  }

  private remember(request: MigrationRequest, serverId: string, migration: MigrationRecord) {
    const handle: MigrationHandle = {
      migrationId: request.migrationId,
      instance: request.instance,
      from: request.from,
      to: migration.dest_compute ?? request.to,
      ref: JSON.stringify({ serverId, migrationId: migration.id } satisfies NovaRef),
    };
    this.handles.set(request.migrationId, handle);
    return handle;
  }

  /** Nova answers 202 first and schedules later: wait until the migration shows (or fails). */
  private async awaitAccepted(request: MigrationRequest, server: Server, lastKnownId: number) {
    const { clock, config } = this.options;
    const deadline = clock.now() + config.startTimeoutS * 1000;
    for (;;) {
      const ours = (await this.api.liveMigrationHistory(server.id)).find((m) => m.id > lastKnownId);
      if (ours && (ours.status === 'completed' || inProgress(ours.status)))
        return this.remember(request, server.id, ours);
      if (ours) {
        const cause = await this.failureCause(server.id);
        throw new DriverRefusedError(
          `Nova did not live-migrate ${request.instance} (migration ${ours.id} ${ours.status}): ${cause}`,
        );
      }
      if (clock.now() > deadline)
        throw new TimeoutError(
          `Nova accepted the live migration of ${request.instance} but never recorded it`,
        );
      await clock.sleep(this.options.pollMs ?? 500);
    }
  }

  /** The final sample once Nova's record of the migration says it is over. */
  private async conclude(
    handle: MigrationHandle,
    ref: NovaRef,
    record: MigrationRecord | undefined,
    estimator: RateEstimator,
  ): Promise<ProgressSample> {
    const at = this.options.clock.now();
    const status = record ? sampleStatus(record.status) : 'failed';
    const base = { at, ...estimator.lastCounters(), remainingBytes: 0, ...estimator.current() };
    let server: AnyServer | undefined;
    try {
      server = await this.api.server(ref.serverId);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    // Its cell stopped answering: the outcome is unknown, not failed; ask again later.
    if (server && isDownCell(server))
      throw new DriverUnreachableError(`server ${handle.instance} is ${DOWN_CELL}`);
    let sample: ProgressSample;
    if (!server) {
      sample = { ...base, status: 'failed', error: `server ${handle.instance} no longer exists in Nova` };
    } else if (status === 'completed' && hostOf(server) === record?.dest_compute) {
      sample = { ...base, status: 'completed' };
    } else if (status === 'cancelled' && !isMigrating(server)) {
      sample = { ...base, status: 'cancelled' };
    } else {
      sample = { ...base, status: 'failed', error: await this.describeFailure(handle, ref, record, server) };
    }
    this.finals.set(refKey(ref), sample);
    return { ...sample };
  }

  private async describeFailure(
    handle: MigrationHandle,
    ref: NovaRef,
    record: MigrationRecord | undefined,
    server: Server,
  ): Promise<string> {
    const cause = await this.failureCause(ref.serverId);
    const host = server['OS-EXT-SRV-ATTR:host'] ?? 'no host';
    const what = record ? `is ${record.status}` : 'vanished from Nova';
    if (isMigrating(server))
      return (
        `${handle.instance} is stuck in ${server.status} on ${host} (task_state ` +
        `${server['OS-EXT-STS:task_state'] ?? 'none'}) although its live migration ${ref.migrationId} ${what}: ` +
        `${cause}. Nova will not move it again until an operator resets its state`
      );
    if (record?.status === 'completed')
      return `Nova says live migration ${ref.migrationId} completed, but ${handle.instance} is on ${host}`;
    return `live migration ${ref.migrationId} of ${handle.instance} ${what}: ${cause}; it is ${server.status} on ${host}`;
  }

  /** Why the newest live-migration action failed, from os-instance-actions. */
  private async failureCause(serverId: string): Promise<string> {
    try {
      const action = await this.api.latestAction(serverId, 'live-migration');
      if (!action) return 'Nova recorded no live-migration action';
      const failed = action.events.find((e) => e.result === 'Error');
      if (!failed) return action.message ?? 'Nova gave no reason';
      const detail = lastLine(failed.traceback) ?? action.message ?? 'no detail';
      return `${failed.event} failed${failed.host ? ` on ${failed.host}` : ''}: ${detail}`;
    } catch (err) {
      return `cause unknown (instance actions unreadable: ${err instanceof FerryError ? err.userMessage : String(err)})`;
    }
  }

  private estimatorFor(key: string): RateEstimator {
    let estimator = this.estimators.get(key);
    if (!estimator) {
      estimator = new RateEstimator();
      this.estimators.set(key, estimator);
    }
    return estimator;
  }
}

function parseRef(handle: MigrationHandle): NovaRef {
  let value: unknown;
  try {
    value = JSON.parse(handle.ref ?? '');
  } catch {
    value = undefined;
  }
  const ref = refSchema.safeParse(value);
  if (!ref.success)
    throw new InputError(`migration ${handle.migrationId} has no Nova reference (ref ${handle.ref})`);
  return ref.data;
}

function refKey(ref: NovaRef): string {
  return `${ref.serverId}/${ref.migrationId}`;
}

/** A server Nova can describe; one of a cell that does not answer cannot be moved now. */
function visible(server: AnyServer): Server {
  if (isDownCell(server)) throw new DriverUnreachableError(`server ${server.id} is ${DOWN_CELL}`);
  return server;
}

function isMigrating(server: Server): boolean {
  return server.status === 'MIGRATING' || server['OS-EXT-STS:task_state'] === 'migrating';
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function lastLine(text: string | null | undefined): string | undefined {
  const lines = (text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.at(-1);
}
