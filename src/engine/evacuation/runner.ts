import type { Clock } from '../clock.js';
import type { CoreConfig, PolicyConfig } from '../config.js';
import type { Driver } from '../drivers/driver.js';
import { FerryError, NotFoundError, toFerryError } from '../errors.js';
import type { Log } from '../log.js';
import {
  type Blocker,
  canTransition,
  EVACUATION_TRANSITIONS,
  type Evacuation,
  type EvacuationState,
  type FerryEvent,
  FINAL_EVACUATION_STATES,
  FINAL_MIGRATION_STATES,
  type Host,
  isActiveMigration,
  type Migration,
  type Move,
  otherDrains,
} from '../model.js';
import { planMigration } from '../planning/plan.js';
import { revalidatePlan } from '../planning/revalidate.js';
import { admit } from '../planning/schedule.js';
import type { AdmissionGate, ApprovalGate, ControlChannel, EngineStore, MigrationRecord } from '../ports.js';
import { abortMigration, dropPending, type StepContext, startMigration, watchMigration } from './watch.js';

/**
 * Executes an evacuation through a driver, one control step per sample interval: watch the
 * running migrations, admit pending ones as the scheduler allows, obey pause/resume/abort, and
 * finish with the source empty (then maintenance) or a precise list of what stayed and why.
 *
 * Resumable by design: every step commits what it did to the store and a run starts from the
 * store, so a process that dies anywhere is replaced by another calling `runEvacuation` with
 * the same id, which carries on.
 */

export interface RunnerDeps {
  driver: Driver;
  store: EngineStore;
  approvals: ApprovalGate;
  control: ControlChannel;
  clock: Clock;
  policy: PolicyConfig;
  /** Re-enable the host after a successful maintenance (config maintenance.reenable). */
  reenableAfterMaintenance?: boolean;
  log?: Log;
  /** Makes admission exclusive across evacuations (and processes), so the fleet-wide ceilings hold. */
  admission?: AdmissionGate;
  /** Called after every committed step (the durable worker hands an evacuation over here when closing). */
  onStep?: (evacuation: Evacuation) => Promise<void>;
  /**
   * Waits between two steps; by default sleeps `sampleIntervalS` on the clock. A worker's runners
   * share one Ticker (tick.ts), so their steps and their calls to Redis and the driver go together.
   */
  pace?: () => Promise<void>;
  /**
   * Called once an evacuation has ended (again on a re-run after a crash, so it must be
   * idempotent): the campaign it belongs to goes on from here.
   */
  onEnded?: (evacuation: Evacuation) => Promise<void>;
}

/** What a runner needs, from the config and the ports: one place for the in-process and durable engines. */
export function runnerDeps(
  config: Pick<CoreConfig, 'policy' | 'maintenance'>,
  driver: Driver,
  clock: Clock,
  ports: Pick<RunnerDeps, 'store' | 'approvals' | 'control' | 'admission'>,
  hooks: Pick<RunnerDeps, 'log' | 'onEnded'> = {},
): RunnerDeps {
  const { store, approvals, control, admission } = ports;
  return {
    driver,
    store,
    approvals,
    control,
    admission,
    onEnded: hooks.onEnded,
    clock,
    policy: config.policy,
    reenableAfterMaintenance: config.maintenance.reenable,
    log: hooks.log,
  };
}

/** Runs (or resumes) an evacuation until it ends; returns its final state. */
export async function runEvacuation(id: string, deps: RunnerDeps): Promise<Evacuation> {
  const log = deps.log ?? (() => {});
  let evacuation = await deps.store.loadEvacuation(id);
  if (!evacuation) throw new NotFoundError(`no evacuation ${id}`);
  // Resumed only from a state a failover cannot take back: the previous attempt may have ended
  // on a commit no replica confirmed, and going on from it would build on what may vanish.
  await deps.store.settle?.();
  if (evacuation.state === 'planned' || evacuation.state === 'scheduled')
    evacuation = await begin(evacuation, deps);

  // Host facts (NIC rates) for admission: read once per run, not once per step (Nova's API is slow).
  let hostFacts: Map<string, Host> | undefined;
  const hosts = async () => {
    hostFacts ??= new Map((await deps.driver.inventory()).hosts.map((h) => [h.name, h]));
    return hostFacts;
  };
  const pace = deps.pace ?? (() => deps.clock.sleep(deps.policy.sampleIntervalS * 1000));
  // The migration records as last committed: read once per run, since only this runner (holding
  // the evacuation's job) writes them; a run after a crash reads them again.
  let records: MigrationRecord[] | undefined;
  while (!FINAL_EVACUATION_STATES.includes(evacuation.state)) {
    if (evacuation.state === 'maintenance' || evacuation.state === 'restoring') {
      evacuation = await maintain(evacuation, deps);
      continue;
    }
    records ??= await loadRecords(evacuation, deps.store);
    ({ evacuation, records } = await step(evacuation, records, deps, hosts, log));
    await deps.onStep?.(evacuation);
    if (!FINAL_EVACUATION_STATES.includes(evacuation.state) && evacuation.state !== 'maintenance')
      await pace();
  }
  await deps.onEnded?.(evacuation);
  return evacuation;
}

function transition(evacuation: Evacuation, to: EvacuationState): void {
  if (evacuation.state === to) return;
  if (!canTransition(EVACUATION_TRANSITIONS, evacuation.state, to))
    throw new FerryError(
      'INTERNAL',
      `evacuation ${evacuation.request.id}: illegal transition ${evacuation.state} -> ${to}`,
    );
  evacuation.state = to;
}

/**
 * Starts the stored plan (the one the operator confirmed; never planned again here): each move is
 * re-validated against the fleet as it is now, only the moves that fail are placed again, and
 * each change is an event. Then the source is disabled.
 */
async function begin(current: Evacuation, deps: RunnerDeps): Promise<Evacuation> {
  const evacuation = structuredClone(current);
  const { request } = evacuation;
  const now = deps.clock.now();
  const fleet = await deps.driver.inventory();
  // Hosts other evacuations drain are no destinations, even if not yet disabled; hosts they will
  // drain later are used only when nothing else has room (their VMs would move twice).
  const { draining, later } = otherDrains(await deps.store.openEvacuations(), request.id);
  const { plan, changes } = revalidatePlan(evacuation.plan, fleet, deps.policy, {
    draining,
    avoid: [...(request.avoid ?? []), ...later],
    pinned: request.only?.to !== undefined,
    only: request.only?.instance,
  });
  // Pre-approvals asked at confirm travel with their moves (a move re-placed keeps its own).
  const early = new Map(
    (await deps.approvals.forEvacuation(request.id))
      .filter((a) => a.stage === 'early')
      .map((a) => [a.instance, a]),
  );
  const records: MigrationRecord[] = plan.moves.map((move) => ({
    ...(early.has(move.instance) && { early: { request: early.get(move.instance)! } }),
    move,
    migration: {
      id: `${request.id}:${move.instance}`,
      evacuationId: request.id,
      instance: move.instance,
      from: move.from,
      to: move.to,
      state: 'pending',
      strategy: move.prediction.strategy,
      memoryBytes: move.memoryBytes,
      prediction: move.prediction,
      bytesSent: 0,
      passes: 0,
    },
  }));
  const base = { evacuationId: request.id, at: now };
  const events: FerryEvent[] = [
    { ...base, type: 'evacuation.planned', plan, requestedBy: request.requestedBy, reason: request.reason },
    ...changes.map((change): FerryEvent => ({ ...base, type: 'plan.revised', ...change })),
    { ...base, type: 'evacuation.started' },
  ];
  if (!request.only) {
    const reason = `ferry evacuation ${request.id}${request.reason ? `: ${request.reason}` : ''}`;
    await deps.driver.setSchedulable(request.source, false, reason);
    events.push({ ...base, type: 'host.disabled', host: request.source, reason });
  }
  evacuation.plan = plan;
  evacuation.migrations = records.map((r) => r.migration);
  evacuation.startedAt = now;
  transition(evacuation, 'draining');
  await deps.store.commit({ evacuation, migrations: records, events });
  return evacuation;
}

function loadRecords(evacuation: Evacuation, store: EngineStore): Promise<MigrationRecord[]> {
  return store.loadMigrations(evacuation.migrations.map((m) => m.id));
}

const isFinal = (m: Migration) => FINAL_MIGRATION_STATES.includes(m.state);

async function step(
  current: Evacuation,
  stored: readonly MigrationRecord[],
  deps: RunnerDeps,
  hosts: () => Promise<Map<string, Host>>,
  log: Log,
): Promise<{ evacuation: Evacuation; records: MigrationRecord[] }> {
  const evacuation = structuredClone(current);
  const { request } = evacuation;
  const now = deps.clock.now();
  const ctx: StepContext = {
    driver: deps.driver,
    approvals: deps.approvals,
    policy: deps.policy,
    now,
    requestedBy: request.requestedBy,
    log,
    replace: (record) => replaceMove(record, deps),
    recoveryRequest: (migrationId, attempt) => deps.control.recoveryRequest(migrationId, attempt),
  };
  const base = { evacuationId: request.id, at: now };
  const events: FerryEvent[] = [];
  const changed = new Map<string, MigrationRecord>();
  let records = [...stored];
  const update = (result: { record: MigrationRecord; events: FerryEvent[] }) => {
    changed.set(result.record.migration.id, result.record);
    events.push(...result.events);
    records = records.map((r) => (r.migration.id === result.record.migration.id ? result.record : r));
  };

  const control = await deps.control.current(request.id);
  if (control?.command === 'pause' && evacuation.state === 'draining') {
    transition(evacuation, 'paused');
    events.push({ ...base, type: 'evacuation.paused', by: control.by });
  } else if (control?.command === 'resume' && evacuation.state === 'paused') {
    transition(evacuation, 'draining');
    events.push({ ...base, type: 'evacuation.resumed', by: control.by });
  }
  const aborting = control?.command === 'abort';

  for (const record of records) {
    const state = record.migration.state;
    if (FINAL_MIGRATION_STATES.includes(state)) continue;
    // A driver that refuses one action must not stop the evacuation: the next step retries.
    const refused = (err: unknown) =>
      log(`${record.migration.id}: ${toFerryError(err).userMessage}`, {
        migrationId: record.migration.id,
        level: 'warn',
      });
    try {
      if (state === 'pending') {
        if (aborting) update(dropPending(record, `evacuation aborted by ${control.by}`, now));
        else if (request.window && now >= request.window.end)
          update(dropPending(record, 'the maintenance window closed before it could start', now));
        continue;
      }
      if (aborting && state !== 'aborting') {
        // A refused abort (the migration already ended, say) must not stop the watching: retried
        // every step without a sample, it would never see the migration end.
        const aborted = await abortMigration(record, `evacuation aborted by ${control.by}`, ctx).catch(
          refused,
        );
        update(aborted ?? (await watchMigration(record, ctx)));
      } else update(await watchMigration(record, ctx));
    } catch (err) {
      refused(err);
    }
  }

  const finish = async () => {
    evacuation.migrations = records.map((r) => r.migration);
    if (records.every((r) => isFinal(r.migration))) {
      for (const result of await lapseEarly(records, deps.approvals, now)) update(result);
      events.push(...(await conclude(evacuation, aborting, control?.by, deps)));
    }
    await deps.store.commit({ evacuation, migrations: [...changed.values()], events });
  };
  const pending = records.filter((r) => r.migration.state === 'pending');
  if (evacuation.state !== 'draining' || aborting || pending.length === 0) {
    await finish();
    return { evacuation, records };
  }
  // Other evacuations' streams share the links and count against the fleet-wide ceiling: reading
  // them, starting moves and committing happen while no other evacuation admits anywhere.
  await (deps.admission ?? NO_EXCLUSION).exclusive(async () => {
    const mine = records.filter((r) => isActiveMigration(r.migration.state));
    const others = (await deps.store.activeMigrations()).filter(
      (r) => r.migration.evacuationId !== request.id,
    );
    const running = [...others, ...mine];
    const admitted = admit({
      running: running.map((r) => r.move),
      pending: pending.filter((r) => !touchesStoppedGuest(r.move, running)).map((r) => r.move),
      hosts: await hosts(),
      policy: deps.policy,
    });
    for (const move of admitted) {
      const record = pending.find((r) => r.move.instance === move.instance)!;
      update(await startMigration(record, ctx));
    }
    await finish();
  });
  return { evacuation, records };
}

/**
 * Whether `move` would share a link with a migration whose guest is stopped for its final copy
 * (or paused): QEMU promised that guest a downtime at the bandwidth it measured, and a stream
 * starting beside it now would take a share of that bandwidth and stretch the downtime past the
 * limit. The move waits for the next step.
 */
function touchesStoppedGuest(move: Move, running: readonly MigrationRecord[]): boolean {
  return running.some((r) => {
    const sample = r.migration.lastSample;
    const stopped = sample?.status === 'device' || sample?.paused === true;
    return stopped && [r.move.from, r.move.to].some((h) => h === move.from || h === move.to);
  });
}

/** One process, one evacuation: nothing to exclude. */
const NO_EXCLUSION: AdmissionGate = { exclusive: (fn) => fn() };

/**
 * Ends an evacuation nobody can run any more (its job failed for good): cancels what is on the
 * links so every VM stays running on its source, records the end, and leaves the host disabled
 * for an operator to look at.
 */
export async function abandonEvacuation(id: string, cause: string, deps: RunnerDeps): Promise<void> {
  const current = await deps.store.loadEvacuation(id);
  if (!current) return;
  await deps.store.settle?.();
  if (FINAL_EVACUATION_STATES.includes(current.state)) return deps.onEnded?.(current);
  const evacuation = structuredClone(current);
  const now = deps.clock.now();
  const events: FerryEvent[] = [];
  const changed: MigrationRecord[] = [];
  const records = await loadRecords(evacuation, deps.store);
  for (const record of records) {
    if (isFinal(record.migration)) continue;
    if (record.handleRef)
      await deps.driver.abort(JSON.parse(record.handleRef)).catch((err: unknown) => {
        deps.log?.(`${record.migration.id}: abort failed: ${toFerryError(err).userMessage}`, {
          migrationId: record.migration.id,
          level: 'error',
        });
      });
    const ended = dropPending(record, cause, now);
    changed.push(ended.record);
    events.push(...ended.events);
  }
  const latest = (r: MigrationRecord) => changed.find((c) => c.migration.id === r.migration.id) ?? r;
  for (const result of await lapseEarly(records.map(latest), deps.approvals, now)) {
    const at = changed.findIndex((c) => c.migration.id === result.record.migration.id);
    if (at >= 0) changed[at] = result.record;
    else changed.push(result.record);
    events.push(...result.events);
  }
  evacuation.migrations = evacuation.migrations.map(
    (m) => changed.find((r) => r.migration.id === m.id)?.migration ?? m,
  );
  const started = evacuation.state !== 'planned' && evacuation.state !== 'scheduled';
  transition(evacuation, !started ? 'cancelled' : evacuation.state === 'paused' ? 'aborted' : 'failed');
  evacuation.endedAt = now;
  events.push({
    evacuationId: id,
    at: now,
    type: 'evacuation.finished',
    state: evacuation.state,
    stayed: stayedBehind(evacuation),
  });
  await deps.store.commit({ evacuation, migrations: changed, events });
  await deps.onEnded?.(evacuation);
}

/**
 * The evacuation is ending: every pre-approval nobody decided lapses (it lasts only as long as
 * its evacuation), and a decision made since the runner last looked is reported. One
 * `approval.decided` event each; records keep the decision, so a re-run repeats none.
 */
async function lapseEarly(
  records: readonly MigrationRecord[],
  approvals: ApprovalGate,
  now: number,
): Promise<{ record: MigrationRecord; events: FerryEvent[] }[]> {
  const out: { record: MigrationRecord; events: FerryEvent[] }[] = [];
  for (const record of records) {
    if (!record.early || record.early.decision) continue;
    const decision = await approvals.expire(record.early.request.id, now);
    const next = structuredClone(record);
    next.early = { request: record.early.request, decision };
    const { migration } = next;
    out.push({
      record: next,
      events: [
        {
          evacuationId: migration.evacuationId,
          at: now,
          type: 'approval.decided',
          decision,
          instance: migration.instance,
        },
      ],
    });
  }
  return out;
}

/** A move gets a new destination this many times at most before it fails. */
const MAX_REPLACEMENTS = 3;

/** Places a pending move again on the fleet as it is now; undefined when nothing else fits. */
async function replaceMove(record: MigrationRecord, deps: RunnerDeps): Promise<MigrationRecord | undefined> {
  const { migration } = record;
  if ((record.replacements ?? 0) >= MAX_REPLACEMENTS || migration.state !== 'pending') return undefined;
  const fleet = await deps.driver.inventory();
  const move = planMigration(fleet, migration.instance, deps.policy).moves[0];
  if (!move || move.to === migration.to) return undefined;
  return {
    ...record,
    move,
    migration: { ...migration, to: move.to, prediction: move.prediction, strategy: move.prediction.strategy },
    replacements: (record.replacements ?? 0) + 1,
  };
}

/** Every migration has ended: decide the evacuation's outcome and what happens to the host. */
async function conclude(
  evacuation: Evacuation,
  aborted: boolean,
  by: string | undefined,
  deps: RunnerDeps,
): Promise<FerryEvent[]> {
  const { request } = evacuation;
  const now = deps.clock.now();
  const base = { evacuationId: request.id, at: now };
  const stayed = stayedBehind(evacuation);
  const moved = evacuation.migrations.filter((m) => m.state === 'completed').length;
  const events: FerryEvent[] = [];
  evacuation.endedAt = now;
  if (aborted) {
    if (!request.only) {
      // Nothing is going to be maintained: give the host back to the scheduler.
      await deps.driver.setSchedulable(request.source, true, `evacuation aborted by ${by}`);
      events.push({ ...base, type: 'host.enabled', host: request.source });
    }
    transition(evacuation, 'aborted');
  } else if (stayed.length === 0 && request.maintenance && !request.only) {
    transition(evacuation, 'maintenance');
    events.push({ ...base, type: 'maintenance.started', host: request.source });
    evacuation.endedAt = undefined;
    return events;
  } else if (stayed.length === 0) transition(evacuation, 'completed');
  else transition(evacuation, moved === 0 && evacuation.migrations.length > 0 ? 'failed' : 'partial');
  events.push({ ...base, type: 'evacuation.finished', state: evacuation.state, stayed });
  return events;
}

/**
 * Runs the configured maintenance on the drained host at most once, then gives it back to the
 * scheduler. The run is marked in the store before the command starts; a mark without an
 * outcome, found by a process taking over, means the command may have run (or may still run):
 * ferry reports "maintenance outcome unknown", keeps the host disabled, and waits for an
 * operator's `maintenance done` or `maintenance retry`.
 */
async function maintain(current: Evacuation, deps: RunnerDeps): Promise<Evacuation> {
  const evacuation = structuredClone(current);
  const { id, source: host } = evacuation.request;
  const events: FerryEvent[] = [];
  const at = () => ({ evacuationId: id, at: deps.clock.now() });
  if (evacuation.state === 'maintenance') {
    const mark = evacuation.maintenanceRun;
    if (mark && mark.outcome === undefined) {
      evacuation.maintenanceRun = { ...mark, outcome: 'unknown' };
      const cause = 'the process running it stopped before it reported; it may have run';
      events.push({ ...at(), type: 'maintenance.unknown', host, attempt: mark.attempt, cause });
      await deps.store.commit({ evacuation, events });
      return evacuation;
    }
    let answeredBy: string | undefined;
    if (mark?.outcome === 'unknown') {
      const answer = await deps.control.maintenanceAnswer(id, mark.attempt);
      if (!answer) {
        await deps.onStep?.(evacuation);
        await deps.clock.sleep(deps.policy.sampleIntervalS * 1000);
        return evacuation;
      }
      if (answer.answer === 'done') {
        evacuation.maintenanceRun = { ...mark, outcome: 'ok' };
        answeredBy = answer.by;
        events.push({
          ...at(),
          type: 'maintenance.finished',
          host,
          ok: true,
          output: `confirmed done by ${answer.by}`,
          by: answer.by,
        });
      }
    }
    if (!answeredBy) {
      evacuation.maintenanceRun = { attempt: (mark?.attempt ?? 0) + 1, startedAt: deps.clock.now() };
      // Durable before the command: a takeover finds the mark and never runs it a second time.
      await deps.store.commit({ evacuation });
      const result = await deps.driver
        .runMaintenance(host)
        .catch((err: unknown) => ({ ok: false, output: toFerryError(err).userMessage }));
      evacuation.maintenanceRun.outcome = result.ok ? 'ok' : 'failed';
      events.push({ ...at(), type: 'maintenance.finished', host, ok: result.ok, output: result.output });
      if (!result.ok) {
        transition(evacuation, 'failed');
        evacuation.endedAt = deps.clock.now();
        events.push({ ...at(), type: 'evacuation.finished', state: 'failed', stayed: [] });
        await deps.store.commit({ evacuation, events });
        return evacuation;
      }
    }
    transition(evacuation, 'restoring');
  }
  if (deps.reenableAfterMaintenance ?? true) {
    await deps.driver.setSchedulable(host, true, 'maintenance finished');
    events.push({ ...at(), type: 'host.enabled', host });
  }
  transition(evacuation, 'completed');
  evacuation.endedAt = deps.clock.now();
  events.push({ ...at(), type: 'evacuation.finished', state: 'completed', stayed: [] });
  await deps.store.commit({ evacuation, events });
  return evacuation;
}

/** The plan's blockers plus every migration that did not complete, with its cause. */
function stayedBehind(evacuation: Evacuation): Blocker[] {
  const failed: Blocker[] = evacuation.migrations
    .filter((m) => m.state !== 'completed')
    .map((m) => ({
      instance: m.instance,
      code: m.state === 'failed' ? 'migration-failed' : 'migration-aborted',
      reason: m.cause ?? m.state,
    }));
  return [...evacuation.plan.blockers, ...failed];
}
