import type { PolicyConfig } from '../config.js';
import type { Driver, MigrationHandle } from '../drivers/driver.js';
import { FerryError, toFerryError } from '../errors.js';
import {
  type ApprovalDecision,
  canTransition,
  type FerryEvent,
  MIGRATION_TRANSITIONS,
  type Migration,
  type MigrationState,
  type ProgressSample,
  type Strategy,
} from '../model.js';
import type { ApprovalGate, MigrationRecord } from '../ports.js';
import { decide, initialTuning, initialWatch, type PolicyAction, type WatchedMigration } from './policy.js';

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
  log: (line: string) => void;
  /**
   * A new destination for a move whose precheck failed (say, another evacuation disabled its
   * destination after this plan was made); undefined when there is none and the move fails.
   */
  replace?: (record: MigrationRecord) => Promise<MigrationRecord | undefined>;
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
      const moved = await ctx.replace?.(next);
      if (moved) {
        ctx.log(`${migration.id}: ${check.reasons.join('; ')}; will go to ${moved.migration.to} instead`);
        return { record: moved, events: [] };
      }
      return fail(next, `precheck failed: ${check.reasons.join('; ')}`, ctx.now);
    }
    const cap = (ctx.policy.streamCapGbps * 1e9) / 8;
    const handle = await ctx.driver.start(request, initialTuning(ctx.policy, watched(next), cap));
    next.handleRef = JSON.stringify(handle);
  } catch (err) {
    const error = toFerryError(err);
    if (error.retryable) {
      ctx.log(`${migration.id}: start will be retried: ${error.userMessage}`);
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

function fail(record: MigrationRecord, cause: string, now: number): StepResult {
  const { migration } = record;
  setState(migration, 'failed');
  migration.cause = cause;
  migration.endedAt = now;
  return {
    record,
    events: [
      {
        evacuationId: migration.evacuationId,
        at: now,
        type: 'migration.failed',
        migrationId: migration.id,
        instance: migration.instance,
        cause,
        bytesSent: migration.bytesSent,
        passes: migration.passes,
      },
    ],
  };
}

/** Cancels a running migration on the operator's or the policy's word. */
export async function abortMigration(
  record: MigrationRecord,
  why: string,
  ctx: StepContext,
): Promise<StepResult> {
  const next = structuredClone(record);
  if (next.handleRef) await ctx.driver.abort(handleOf(next));
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
    // The migration goes on whether or not we can see it: keep trying, never guess an outcome.
    ctx.log(`${record.migration.id}: sample failed: ${toFerryError(err).userMessage}`);
    return { record, events: [] };
  }
  const next = structuredClone(record);
  const { migration } = next;
  migration.lastSample = sample;
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
    migration.endedAt = ctx.now;
    if (sample.status === 'completed') {
      setState(migration, 'completed');
      migration.strategy = strategyUsed(next);
      migration.downtimeMs = sample.downtimeMs ?? 0;
      events.push({
        ...base,
        type: 'migration.completed',
        strategy: migration.strategy,
        durationMs: ctx.now - (migration.startedAt ?? ctx.now),
        downtimeMs: migration.downtimeMs,
        bytesSent: migration.bytesSent,
        passes: migration.passes,
      });
    } else if (sample.status === 'failed') {
      setState(migration, 'failed');
      migration.cause = sample.error ?? 'the hypervisor reported the migration failed';
      events.push({
        ...base,
        type: 'migration.failed',
        cause: migration.cause,
        bytesSent: migration.bytesSent,
        passes: migration.passes,
      });
    } else {
      setState(migration, 'aborted');
      migration.cause ??= 'cancelled on the hypervisor';
      events.push({
        ...base,
        type: 'migration.aborted',
        cause: migration.cause,
        bytesSent: migration.bytesSent,
        passes: migration.passes,
      });
    }
    return { record: next, events };
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
  const step = decide({
    policy: ctx.policy,
    migration: watched(next),
    watch,
    sample,
    now: ctx.now,
    decision,
  });
  next.watch = step.watch;
  if (decision && step.watch.escalation?.approvalId === decision.approvalId)
    next.watch.escalation = undefined;
  for (const action of step.actions) events.push(...(await act(next, action, handle, sample, ctx)));
  return { record: next, events };
}

function strategyUsed(record: MigrationRecord): Strategy {
  const watch = record.watch;
  if (watch?.switchedOver) return watch.switchedOver;
  return watch?.autoConverge ? 'auto-converge' : 'precopy';
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
      const approval = {
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
        risk:
          action.switchover === 'postcopy'
            ? 'post-copy: the guest runs on the destination at once; a network failure before it finishes loses the guest'
            : `pause: the guest is stopped for about ${Math.round(action.predictedDowntimeMs)} ms while the rest is copied`,
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
    case 'abort':
      await ctx.driver.abort(handle);
      setState(migration, 'aborting');
      migration.cause = action.why;
      return [];
  }
}
