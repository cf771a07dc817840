import { migrationStream, streamCapsOf } from '../bandwidth.js';
import type { PolicyConfig } from '../config.js';
import type { Driver, MigrationHandle, Whereabouts } from '../drivers/driver.js';
import { ConflictError, FerryError, MigrationLostError, toFerryError } from '../errors.js';
import type { Log } from '../log.js';
import {
  type ApprovalDecision,
  type ApprovalRequest,
  canTransition,
  type FerryEvent,
  MIGRATION_TRANSITIONS,
  type Migration,
  type MigrationState,
  type ProgressSample,
  prefersPostcopy,
  type Strategy,
} from '../model.js';
import type { ApprovalGate, MigrationRecord, WatchState } from '../ports.js';
import { traced } from '../trace.js';
import { switchoverRisk } from './early.js';
import { decide, initialTuning, initialWatch, type PolicyAction, type WatchedMigration } from './policy.js';
import { reconcile, whereIs } from './reconcile.js';

/**
 * One control step for one migration: start it, or sample it, let the policy decide, and carry
 * out what it decided. Returns the record as it should be stored and the events to append; the
 * caller commits both together, so a crash between a driver call and the commit only repeats
 * idempotent driver calls (start by id, tune, approval requests by id), never an event.
 */

/** Seconds between two `migration.progress` events of one migration (samples are more frequent). */
export const PROGRESS_EVENT_INTERVAL_MS = 10_000;

export interface StepContext {
  driver: Driver;
  approvals: ApprovalGate;
  policy: PolicyConfig;
  now: number;
  requestedBy: string;
  log: Log;
  /**
   * A new destination for a move whose precheck failed (say, another evacuation disabled its
   * destination after this plan was made); undefined when there is none and the move fails.
   */
  replace?: (record: MigrationRecord) => Promise<MigrationRecord | undefined>;
  /** An operator's request for post-copy recovery number `attempt` (ControlChannel.recoveryRequest). */
  recoveryRequest?: (migrationId: string, attempt: number) => Promise<{ by: string } | undefined>;
}

export interface StepResult {
  record: MigrationRecord;
  events: FerryEvent[];
}

export function watched(record: MigrationRecord): WatchedMigration {
  const { migration, move } = record;
  return {
    id: migration.id,
    instance: migration.instance,
    memoryBytes: migration.memoryBytes,
    downtimeSloMs: move.downtimeSloMs,
    plannedStrategy: move.prediction.strategy,
    switchoverRefused: move.switchoverRefused,
    ...(move.channels !== undefined && { channels: move.channels }),
    ...(prefersPostcopy(move) && { postcopyPreferred: true }),
  };
}

function setState(migration: Migration, to: MigrationState): void {
  if (migration.state === to) return;
  if (!canTransition(MIGRATION_TRANSITIONS, migration.state, to))
    throw new FerryError(
      'INTERNAL',
      `migration ${migration.id}: illegal transition ${migration.state} -> ${to}`,
    );
  migration.state = to;
}

function handleOf(record: MigrationRecord): MigrationHandle {
  return JSON.parse(record.handleRef!) as MigrationHandle;
}

/** Starts a pending migration; a refusal fails it with the driver's reason, a retryable error leaves it pending. */
export async function startMigration(record: MigrationRecord, ctx: StepContext): Promise<StepResult> {
  const next = structuredClone(record);
  const { migration } = next;
  const base = { evacuationId: migration.evacuationId, at: ctx.now };
  const request = {
    migrationId: migration.id,
    instance: migration.instance,
    from: migration.from,
    to: migration.to,
  };
  try {
    const check = await ctx.driver.precheck(request);
    if (!check.ok) {
      const arrived = await arrivedUnrecorded(next, ctx);
      if (arrived) return arrived;
      const moved = await ctx.replace?.(next);
      if (moved) {
        ctx.log(`${migration.id}: ${check.reasons.join('; ')}; will go to ${moved.migration.to} instead`, {
          migrationId: migration.id,
          level: 'warn',
        });
        return { record: moved, events: [] };
      }
      return fail(next, `precheck failed: ${check.reasons.join('; ')}`, ctx.now);
    }
    // QEMU's max-bandwidth counts every multifd channel: the cap is the move's, not one stream's.
    const cap = migrationStream(next.move.channels, streamCapsOf(ctx.policy)).capBytesPerS;
    const handle = await ctx.driver.start(request, initialTuning(ctx.policy, watched(next), cap));
    next.handleRef = JSON.stringify(handle);
  } catch (err) {
    const error = toFerryError(err);
    if (error.retryable) {
      ctx.log(`${migration.id}: start will be retried: ${error.userMessage}`, {
        migrationId: migration.id,
        level: 'warn',
      });
      return { record, events: [] };
    }
    return fail(next, error.userMessage, ctx.now);
  }
  setState(migration, 'running');
  migration.startedAt = ctx.now;
  next.watch = initialWatch(ctx.policy, watched(next), ctx.now);
  return {
    record: next,
    events: [
      {
        ...base,
        type: 'migration.started',
        migrationId: migration.id,
        instance: migration.instance,
        from: migration.from,
        to: migration.to,
        prediction: next.move.prediction,
      },
    ],
  };
}

/**
 * A pending move refused because its VM already runs on its destination: the back end did it and
 * the record lost it (a failover took back the commits that said so, a lost tail). Recorded as
 * done from where the back end has the VM, never started again nor placed elsewhere (it would
 * move twice). Undefined when the VM is not there or where it is cannot ever be told (the
 * refusal stands); unchanged, for the next step, when it cannot be told now.
 */
async function arrivedUnrecorded(record: MigrationRecord, ctx: StepContext): Promise<StepResult | undefined> {
  const { migration } = record;
  const { id, instance, from, to } = migration;
  let where: Whereabouts;
  try {
    where = await whereIs(ctx.driver, { migrationId: id, instance, from, to });
  } catch (err) {
    const error = toFerryError(err);
    // Waiting cannot change a permanent refusal (a host key not the pinned one): the precheck's stands.
    if (!error.retryable) return undefined;
    ctx.log(`${id}: where ${instance} is cannot be told yet: ${error.userMessage}`, {
      migrationId: id,
      level: 'warn',
    });
    return { record, events: [] };
  }
  if (where.host !== to || where.running === false) return undefined;
  const cause = `${instance} already runs on its destination ${to}: moved before, the record had lost it; not moved again`;
  ctx.log(`${id}: ${cause}`, { migrationId: id, level: 'warn' });
  const next = structuredClone(record);
  setState(next.migration, 'running');
  next.migration.startedAt = ctx.now;
  const started: FerryEvent = {
    evacuationId: migration.evacuationId,
    at: ctx.now,
    type: 'migration.started',
    migrationId: id,
    instance,
    from,
    to,
    prediction: next.move.prediction,
  };
  return {
    record: next,
    events: [started, end(next, { state: 'completed', downtimeMs: 0, cause }, ctx.now)],
  };
}

function fail(record: MigrationRecord, cause: string, now: number): StepResult {
  return { record, events: [end(record, { state: 'failed', cause }, now)] };
}

type Outcome =
  | { state: 'completed'; downtimeMs: number; cause?: string }
  | { state: 'failed' | 'aborted'; cause: string };

/** Records how a started migration ended (in place) and returns the event saying so. */
function end(record: MigrationRecord, outcome: Outcome, now: number): FerryEvent {
  const { migration } = record;
  setState(migration, outcome.state);
  migration.endedAt = now;
  const base = {
    evacuationId: migration.evacuationId,
    at: now,
    migrationId: migration.id,
    instance: migration.instance,
    bytesSent: migration.bytesSent,
    passes: migration.passes,
  };
  if (outcome.state !== 'completed') {
    migration.cause = outcome.cause;
    return {
      ...base,
      type: outcome.state === 'failed' ? 'migration.failed' : 'migration.aborted',
      cause: outcome.cause,
    };
  }
  migration.strategy = strategyUsed(record);
  migration.downtimeMs = outcome.downtimeMs;
  return {
    ...base,
    type: 'migration.completed',
    strategy: migration.strategy,
    durationMs: now - (migration.startedAt ?? now),
    downtimeMs: outcome.downtimeMs,
    ...(outcome.cause !== undefined && { cause: outcome.cause }),
  };
}

/** Cancels a running migration on the operator's or the policy's word. */
export async function abortMigration(
  record: MigrationRecord,
  why: string,
  ctx: StepContext,
): Promise<StepResult> {
  const next = structuredClone(record);
  try {
    if (next.handleRef) await ctx.driver.abort(handleOf(next));
  } catch (err) {
    // Nothing left to cancel: the next watch step finds out where the VM is.
    if (!(err instanceof MigrationLostError)) throw err;
  }
  setState(next.migration, 'aborting');
  next.migration.cause = why;
  return { record: next, events: [] };
}

/** Ends a migration as aborted: one that never started (evacuation aborted, window closed), or one given up. */
export function dropPending(record: MigrationRecord, cause: string, now: number): StepResult {
  const next = structuredClone(record);
  const { migration } = next;
  setState(migration, 'aborted');
  migration.cause = cause;
  migration.endedAt = now;
  return {
    record: next,
    events: [
      {
        evacuationId: migration.evacuationId,
        at: now,
        type: 'migration.aborted',
        migrationId: migration.id,
        instance: migration.instance,
        cause,
        bytesSent: 0,
        passes: 0,
      },
    ],
  };
}

/** Samples a started migration, records its outcome if it ended, else applies the policy. */
export async function watchMigration(record: MigrationRecord, ctx: StepContext): Promise<StepResult> {
  const handle = handleOf(record);
  let sample: ProgressSample;
  try {
    sample = await ctx.driver.sample(handle);
  } catch (err) {
    if (err instanceof MigrationLostError) return lostMigration(record, handle, err, ctx);
    // The migration goes on whether or not we can see it: keep trying, never guess an outcome.
    ctx.log(`${record.migration.id}: sample failed: ${toFerryError(err).userMessage}`, {
      migrationId: record.migration.id,
      level: 'warn',
    });
    return { record, events: [] };
  }
  const next = structuredClone(record);
  next.lost = undefined;
  const { migration } = next;
  migration.lastSample = sample;
  migration.trace = traced(migration.trace, sample);
  migration.bytesSent = sample.transferredBytes;
  migration.passes = sample.iteration;
  const base = {
    evacuationId: migration.evacuationId,
    at: ctx.now,
    migrationId: migration.id,
    instance: migration.instance,
  };
  const events: FerryEvent[] = [];

  if (sample.status === 'completed' || sample.status === 'failed' || sample.status === 'cancelled') {
    const outcome: Outcome =
      sample.status === 'completed'
        ? { state: 'completed', downtimeMs: sample.downtimeMs ?? 0 }
        : sample.status === 'failed'
          ? { state: 'failed', cause: sample.error ?? 'the hypervisor reported the migration failed' }
          : { state: 'aborted', cause: migration.cause ?? 'cancelled on the hypervisor' };
    return { record: next, events: [end(next, outcome, ctx.now)] };
  }

  if (migration.state === 'aborting') return { record: next, events };
  if (ctx.now - (next.progressEventAt ?? 0) >= PROGRESS_EVENT_INTERVAL_MS) {
    next.progressEventAt = ctx.now;
    events.push({ ...base, type: 'migration.progress', sample });
  }

  const watch = next.watch ?? initialWatch(ctx.policy, watched(next), ctx.now);
  let decision: ApprovalDecision | undefined;
  if (watch.escalation) {
    decision = await ctx.approvals.decision(watch.escalation.approvalId);
    if (!decision && ctx.now >= watch.escalation.expiresAt)
      decision = await ctx.approvals.expire(watch.escalation.approvalId, ctx.now);
    // Never carry out a decision recorded after expiry (a store that let one through, or data
    // from an older ferry): expiry wins, and a tie is late.
    if (decision && decision.outcome !== 'expired' && decision.decidedAt >= watch.escalation.expiresAt)
      decision = { ...decision, outcome: 'expired', decidedBy: 'system' };
    if (decision) events.push({ ...base, type: 'approval.decided', decision });
  }
  const preApproval = await readEarly(next, watch, ctx);
  if (preApproval.event) events.push({ ...base, ...preApproval.event });
  const step = decide({
    policy: ctx.policy,
    migration: watched(next),
    watch,
    sample,
    now: ctx.now,
    decision,
    preApproval: next.early,
  });
  next.watch = step.watch;
  if (decision && step.watch.escalation?.approvalId === decision.approvalId)
    next.watch.escalation = undefined;
  for (const action of step.actions) events.push(...(await act(next, action, handle, sample, ctx)));
  events.push(...(await recoverIfAsked(next, handle, ctx)));
  // The progress message shows a stall only while it lasts: moving again, or a recovery, ends it.
  if (next.watch.postcopy?.alertedAt === undefined) next.migration.postcopyStalled = undefined;
  return { record: next, events };
}

/**
 * Carries out an operator's post-copy recovery, once per request: asked from any bot or the
 * CLI, run here, by the runner that owns the migration and so holds its driver. A refusal is
 * an event too (the request is spent): the thread says why and the operator may ask again.
 */
async function recoverIfAsked(
  record: MigrationRecord,
  handle: MigrationHandle,
  ctx: StepContext,
): Promise<FerryEvent[]> {
  const { migration, watch } = record;
  if (watch?.switchedOver !== 'postcopy' || migration.state !== 'switching-over') return [];
  const attempt = (watch.postcopyRecoveries ?? 0) + 1;
  const request = await ctx.recoveryRequest?.(migration.id, attempt);
  if (!request) return [];
  watch.postcopyRecoveries = attempt;
  const event = {
    evacuationId: migration.evacuationId,
    at: ctx.now,
    type: 'migration.postcopy-recovery' as const,
    migrationId: migration.id,
    instance: migration.instance,
    by: request.by,
  };
  try {
    if (!ctx.driver.recoverPostcopy) throw new ConflictError(noRecovery(ctx.driver));
    await ctx.driver.recoverPostcopy(handle);
  } catch (err) {
    return [{ ...event, ok: false, cause: toFerryError(err).userMessage }];
  }
  // The recovered stream gets a stall clock of its own: a new stall is raised anew.
  if (watch.postcopy)
    watch.postcopy = { bestRemainingBytes: watch.postcopy.bestRemainingBytes, bestAt: ctx.now };
  return [{ ...event, ok: true }];
}

/**
 * Reads the move's pre-approval decision while it may still be used (not spent, no escalation,
 * no switchover), recording its lapse once it is past its life: a decision read for the first
 * time is kept on the record and becomes one `approval.decided` event.
 */
async function readEarly(
  record: MigrationRecord,
  watch: WatchState,
  ctx: StepContext,
): Promise<{ event?: { type: 'approval.decided'; decision: ApprovalDecision } }> {
  const early = record.early;
  if (!early || early.decision || watch.preApprovalSpent || watch.escalation || watch.switchedOver) return {};
  let decision = await ctx.approvals.decision(early.request.id);
  if (!decision && ctx.now >= early.request.expiresAt)
    decision = await ctx.approvals.expire(early.request.id, ctx.now);
  if (!decision) return {};
  early.decision = decision;
  return { event: { type: 'approval.decided', decision } };
}

/**
 * The back end answered "no such migration": counted, and once `lostMigrationAnswers` answers in
 * a row or `lostMigrationS` seconds have passed, reconciled against where the VM is now.
 */
async function lostMigration(
  record: MigrationRecord,
  handle: MigrationHandle,
  error: MigrationLostError,
  ctx: StepContext,
): Promise<StepResult> {
  const next = structuredClone(record);
  const lost = { since: record.lost?.since ?? ctx.now, answers: (record.lost?.answers ?? 0) + 1 };
  next.lost = lost;
  const { lostMigrationAnswers, lostMigrationS } = ctx.policy;
  const id = record.migration.id;
  if (lost.answers < lostMigrationAnswers && ctx.now - lost.since < lostMigrationS * 1000) {
    ctx.log(
      `${id}: ${error.userMessage} (${lost.answers} of ${lostMigrationAnswers} answers, or ${lostMigrationS} s, before ferry looks for the VM)`,
      { migrationId: id, level: 'warn' },
    );
    return { record: next, events: [] };
  }
  let where: Whereabouts;
  try {
    where = await whereIs(ctx.driver, handle);
  } catch (err) {
    ctx.log(
      `${id}: lost, and where ${record.migration.instance} is cannot be read yet: ${toFerryError(err).userMessage}`,
      { migrationId: id, level: 'warn' },
    );
    return { record: next, events: [] };
  }
  const outcome = reconcile(next.migration, where);
  ctx.log(`${id}: ${error.userMessage}; reconciled: ${outcome.state}: ${outcome.cause}`, {
    migrationId: id,
    level: 'warn',
  });
  const event = end(
    next,
    outcome.state === 'completed' ? { state: 'completed', downtimeMs: 0, cause: outcome.cause } : outcome,
    ctx.now,
  );
  return { record: next, events: [event] };
}

function strategyUsed(record: MigrationRecord): Strategy {
  const watch = record.watch;
  if (watch?.switchedOver) return watch.switchedOver;
  return watch?.autoConverge ? 'auto-converge' : 'precopy';
}

/** What an operator can do for a stalled post-copy when the driver offers no recovery of its own. */
const POSTCOPY_OPERATOR_RECOVERY =
  'restore the migration network between source and destination and keep the source host up (it holds the pages the guest still needs); if the source is lost, so is the guest';

/** Why a driver without a recovery of its own refuses one, and what the operator can do instead. */
export function noRecovery(driver: Partial<Pick<Driver, 'kind' | 'postcopyRecovery'>>): string {
  return `the ${driver.kind ?? 'workers’'} driver cannot recover a post-copy itself: ${driver.postcopyRecovery ?? POSTCOPY_OPERATOR_RECOVERY}`;
}

async function act(
  record: MigrationRecord,
  action: PolicyAction,
  handle: MigrationHandle,
  sample: ProgressSample,
  ctx: StepContext,
): Promise<FerryEvent[]> {
  const { migration } = record;
  const base = {
    evacuationId: migration.evacuationId,
    at: ctx.now,
    migrationId: migration.id,
    instance: migration.instance,
  };
  switch (action.kind) {
    case 'tune':
      await ctx.driver.tune(handle, {
        ...(action.downtimeLimitMs !== undefined && { downtimeLimitMs: action.downtimeLimitMs }),
        ...(action.autoConverge !== undefined && { autoConverge: action.autoConverge }),
      });
      return [
        {
          ...base,
          type: 'migration.tuned',
          downtimeLimitMs: action.downtimeLimitMs,
          autoConverge: action.autoConverge,
          why: action.why,
        },
      ];
    case 'escalate': {
      const approval: ApprovalRequest = {
        id: action.approvalId,
        evacuationId: migration.evacuationId,
        migrationId: migration.id,
        instance: migration.instance,
        kind: action.switchover,
        requestedBy: ctx.requestedBy,
        requestedAt: ctx.now,
        expiresAt: action.expiresAt,
        predictedDowntimeMs: action.predictedDowntimeMs,
        downtimeSloMs: record.move.downtimeSloMs,
        remainingBytes: sample.remainingBytes,
        dirtyBytesPerS: sample.dirtyBytesPerS,
        bandwidthBytesPerS: sample.bandwidthBytesPerS,
        risk: switchoverRisk(action.switchover, action.predictedDowntimeMs),
        stage: 'live',
      };
      await ctx.approvals.request(approval);
      setState(migration, 'awaiting-approval');
      return [{ evacuationId: migration.evacuationId, at: ctx.now, type: 'approval.requested', approval }];
    }
    case 'switchover':
      if (action.switchover === 'postcopy') await ctx.driver.switchToPostCopy(handle);
      else await ctx.driver.pause(handle);
      setState(migration, 'switching-over');
      migration.strategy = action.switchover;
      return [{ ...base, type: 'migration.switchover', kind: action.switchover }];
    case 'lapse': {
      // The first decision stands: one made a moment ago is what the store returns.
      const decision = await ctx.approvals.expire(action.approvalId, ctx.now);
      if (record.early) record.early.decision = decision;
      return [{ ...base, type: 'approval.decided', decision }];
    }
    case 'postcopy-stalled':
      migration.postcopyStalled = {
        since: ctx.now - action.stalledForMs,
        recoverable: ctx.driver.recoverPostcopy !== undefined,
      };
      return [
        {
          ...base,
          type: 'migration.postcopy-stalled',
          remainingBytes: action.remainingBytes,
          stalledForMs: action.stalledForMs,
          recovery: ctx.driver.postcopyRecovery ?? POSTCOPY_OPERATOR_RECOVERY,
          ...(ctx.driver.recoverPostcopy && { recoverable: true }),
        },
      ];
    case 'abort':
      await ctx.driver.abort(handle);
      setState(migration, 'aborting');
      migration.cause = action.why;
      return [];
  }
}
