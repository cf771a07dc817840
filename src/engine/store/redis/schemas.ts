import { z } from 'zod';
import type {
  ApprovalDecision,
  ApprovalRequest,
  Campaign,
  Evacuation,
  FerryEvent,
  FerryEventType,
} from '../../model.js';
import type { AuditEntry, ControlCommand, IssuedPlan, MigrationRecord, PlanUse } from '../../ports.js';
import { SchemaVersionError, StoredStateError } from './errors.js';
import type { FleetSnapshot } from './fleet.js';
import { RECORD_VERSIONS, type RecordKind } from './version.js';

/**
 * Shapes of what ferry stores in Redis, checked on every read: a value someone else wrote (or
 * an older ferry) becomes a StoredStateError naming the key, not a crash in the runner. Objects
 * are loose so fields added to the model later survive a read-modify-write round trip; the
 * fields the engine branches on are checked.
 */

const num = z.number().finite();
const text = z.string();

const predictionSchema = z.looseObject({
  converges: z.boolean(),
  strategy: z.enum(['precopy', 'auto-converge', 'postcopy', 'pause']),
  passes: num,
  bytesSent: num,
  durationMs: num,
  downtimeMs: num,
  bandwidthBytesPerS: num,
});

const moveSchema = z.looseObject({
  instance: text,
  from: text,
  to: text,
  memoryBytes: num,
  dirtyBytesPerS: num,
  downtimeSloMs: num,
  prediction: predictionSchema,
});

const blockerSchema = z.looseObject({ instance: text, code: text, reason: text });

const windowSchema = z.looseObject({ start: num, end: num });

const planSchema = z.looseObject({
  source: text,
  moves: z.array(moveSchema),
  blockers: z.array(blockerSchema),
  lowerBoundMs: num,
  predictedMakespanMs: num,
  window: windowSchema.optional(),
});

const sampleSchema = z.looseObject({
  at: num,
  status: text,
  totalBytes: num,
  transferredBytes: num,
  remainingBytes: num,
});

const migrationSchema = z.looseObject({
  id: text,
  evacuationId: text,
  instance: text,
  from: text,
  to: text,
  state: z.enum([
    'pending',
    'running',
    'awaiting-approval',
    'switching-over',
    'aborting',
    'completed',
    'failed',
    'aborted',
  ]),
  strategy: z.enum(['precopy', 'auto-converge', 'postcopy', 'pause']),
  memoryBytes: num,
  prediction: predictionSchema,
  bytesSent: num,
  passes: num,
  lastSample: sampleSchema.optional(),
  trace: z
    .strictObject({
      stepMs: num,
      points: z.array(z.tuple([num, num, num])).max(1000),
    })
    .optional(),
});

export const evacuationSchema = z.looseObject({
  request: z.looseObject({
    id: text,
    source: text,
    requestedBy: text,
    maintenance: z.boolean(),
    window: windowSchema.optional(),
    only: z.looseObject({ instance: text, to: text.optional() }).optional(),
  }),
  state: z.enum([
    'planned',
    'scheduled',
    'draining',
    'paused',
    'maintenance',
    'restoring',
    'completed',
    'partial',
    'failed',
    'aborted',
    'cancelled',
  ]),
  plan: planSchema,
  migrations: z.array(migrationSchema),
  startedAt: num.optional(),
  endedAt: num.optional(),
});

export const migrationRecordSchema = z.looseObject({
  migration: migrationSchema,
  move: moveSchema,
  watch: z.looseObject({ startedAt: num, rampStep: num, downtimeLimitMs: num }).optional(),
  handleRef: text.optional(),
  progressEventAt: num.optional(),
  lost: z.object({ since: num, answers: num }).optional(),
  early: z.looseObject({ request: z.looseObject({ id: text, expiresAt: num }) }).optional(),
});

/** Every event type, as keys: a type added to the model and not here fails to compile (it would be unreadable once stored). */
const EVENT_TYPE_KEYS: Record<FerryEventType, true> = {
  'evacuation.planned': true,
  'evacuation.scheduled': true,
  'plan.revised': true,
  'evacuation.started': true,
  'evacuation.paused': true,
  'evacuation.resumed': true,
  'host.disabled': true,
  'host.enabled': true,
  'maintenance.started': true,
  'maintenance.finished': true,
  'maintenance.unknown': true,
  'migration.started': true,
  'migration.progress': true,
  'migration.tuned': true,
  'approval.requested': true,
  'approval.decided': true,
  'migration.switchover': true,
  'migration.postcopy-stalled': true,
  'migration.postcopy-recovery': true,
  'migration.completed': true,
  'migration.failed': true,
  'migration.aborted': true,
  'evacuation.finished': true,
};
const EVENT_TYPES = Object.keys(EVENT_TYPE_KEYS) as [FerryEventType, ...FerryEventType[]];

export const eventSchema = z.looseObject({ evacuationId: text, at: num, type: z.enum(EVENT_TYPES) });

export const approvalRequestSchema = z.looseObject({
  id: text,
  evacuationId: text,
  migrationId: text,
  instance: text,
  kind: z.enum(['postcopy', 'pause']),
  requestedBy: text,
  requestedAt: num,
  expiresAt: num,
  stage: z.enum(['live', 'early']).optional(),
  // What a pre-approval covers decides a switchover: checked, never guessed.
  covers: z.looseObject({ dirtyBytesPerS: num, downtimeMs: num }).optional(),
});

export const approvalDecisionSchema = z.looseObject({
  approvalId: text,
  outcome: z.enum(['approved', 'rejected', 'expired']),
  decidedBy: text,
  decidedAt: num,
});

const evacuationStates = evacuationSchema.shape.state;

export const campaignSchema = z.looseObject({
  id: text,
  requestedBy: text,
  maintenance: z.boolean(),
  parallel: num,
  continueOnPartial: z.boolean(),
  avoidLater: z.boolean(),
  state: z.enum(['running', 'paused', 'completed', 'stopped', 'aborted']),
  steps: z.array(
    z.looseObject({
      hosts: z.array(
        z.looseObject({
          host: text,
          evacuationId: text.optional(),
          outcome: evacuationStates.optional(),
          cause: text.optional(),
        }),
      ),
    }),
  ),
  current: num,
  startsAt: num,
  createdAt: num,
  version: num,
});

export const controlSchema = z.strictObject({
  command: z.enum(['pause', 'resume', 'abort'] satisfies ControlCommand[]),
  by: text,
});

export const maintenanceAnswerSchema = z.strictObject({ answer: z.enum(['done', 'retry']), by: text });
export const recoveryRequestSchema = z.strictObject({ by: text });

export const issuedPlanSchema = z.looseObject({
  id: text,
  nonce: text,
  issuedTo: text,
  issuedAt: num,
  expiresAt: num,
  request: z.looseObject({
    hosts: z.array(text).min(1),
    when: z.looseObject({ kind: z.enum(['now', 'at', 'in', 'window']) }),
    requestedBy: text,
    maintenance: z.boolean(),
  }),
  plans: z.array(planSchema).min(1),
  assumed: z.looseObject({
    at: num,
    hosts: z.array(z.looseObject({ name: text })),
    instances: z.array(z.looseObject({ name: text, host: text })),
  }),
});

export const planUseSchema = z.strictObject({ use: z.enum(['confirmed', 'cancelled']), by: text, at: num });

export const auditEntrySchema = z.looseObject({
  at: num,
  who: text,
  action: text,
  target: text,
  via: text,
  detail: text.optional(),
  refused: text.optional(),
});

/** Checked on read: a planner fed a garbled fleet would plan garbage. Loose, like the other stored shapes. */
const fleetSnapshotSchema = z.looseObject({
  fleet: z.looseObject({
    hosts: z.array(
      z.looseObject({
        name: text,
        vcpus: num,
        memoryBytes: num,
        nicBytesPerS: num,
        labels: z.array(text),
        schedulable: z.boolean(),
      }),
    ),
    instances: z.array(
      z.looseObject({
        name: text,
        host: text,
        vcpus: num,
        memoryBytes: num,
        migratable: z.boolean(),
        dirtyBytesPerS: num,
      }),
    ),
    unreachable: z
      .array(z.looseObject({ kind: z.enum(['host', 'instance']), name: text, reason: text }))
      .optional(),
  }),
  driver: text,
  by: text,
  at: num,
});

const fleetFailureSchema = z.looseObject({ message: text, by: text, at: num });

/** What each schema's value is in the engine's own types. */
interface Stored extends Record<RecordKind, unknown> {
  evacuation: Evacuation;
  migration: MigrationRecord;
  event: FerryEvent;
  approval: ApprovalRequest;
  decision: ApprovalDecision;
  control: { command: ControlCommand; by: string };
  audit: AuditEntry;
  campaign: Campaign;
  maintenanceAnswer: { answer: 'done' | 'retry'; by: string };
  recoveryRequest: { by: string };
  plan: IssuedPlan;
  planUse: { use: PlanUse; by: string; at: number };
  fleet: FleetSnapshot;
  fleetFailure: { message: string; by: string; at: number };
}

const schemas: Record<keyof Stored, z.ZodType> = {
  evacuation: evacuationSchema,
  migration: migrationRecordSchema,
  event: eventSchema,
  approval: approvalRequestSchema,
  decision: approvalDecisionSchema,
  control: controlSchema,
  audit: auditEntrySchema,
  campaign: campaignSchema,
  maintenanceAnswer: maintenanceAnswerSchema,
  recoveryRequest: recoveryRequestSchema,
  plan: issuedPlanSchema,
  planUse: planUseSchema,
  fleet: fleetSnapshotSchema,
  fleetFailure: fleetFailureSchema,
};

/**
 * How a record of version n becomes one of version n + 1, for the kinds whose version passed n.
 * 1 → 2 changed no record's shape (only the keyspace: the open index, expiries), so every kind
 * passes through unchanged.
 */
const UPGRADES: Record<
  number,
  (kind: keyof Stored, value: Record<string, unknown>) => Record<string, unknown>
> = {
  1: (_kind, value) => value,
};

/** `value` as JSON, stamped with its kind's version (`v`; none for version 1, the form before versions). */
export function encode<K extends keyof Stored>(kind: K, value: Stored[K]): string {
  const v = RECORD_VERSIONS[kind];
  return JSON.stringify(v === 1 ? value : { ...(value as object), v });
}

/**
 * Parses a stored JSON string as `kind`; `where` names the key in the error. An older version is
 * upgraded on the way in; a newer one is a SchemaVersionError, never parsed as this version.
 */
export function decode<K extends keyof Stored>(kind: K, raw: string, where: string): Stored[K] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new StoredStateError(`${kind} at ${where}`, 'not JSON');
  }
  const result = schemas[kind].safeParse(upgrade(kind, value, where));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new StoredStateError(`${kind} at ${where}`, `${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return result.data as Stored[K];
}

/** The stored value in its kind's current shape, without its `v`. */
function upgrade(kind: keyof Stored, value: unknown, where: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const { v = 1, ...record } = value as Record<string, unknown>;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new StoredStateError(`${kind} at ${where}`, `v: ${JSON.stringify(v)} is not a schema version`);
  const known = RECORD_VERSIONS[kind];
  if (v > known) throw new SchemaVersionError(`${kind} at ${where}`, v, known);
  let current = record;
  for (let from = v; from < known; from++) current = UPGRADES[from]!(kind, current);
  return current;
}
