import { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import type { Fleet, MigrationStatus, ProgressSample, Tuning } from '../../model.js';
import type { MigrationHandle, MigrationRequest, PrecheckResult } from '../driver.js';
import { simFaultSchema } from './faults.js';
import type { SimSnapshot } from './fleet-sim.js';
import type { SimMigrationView } from './migration.js';

/**
 * The sim server's HTTP/JSON protocol: one POST per Driver operation, `/op/<name>`, with a JSON
 * body and a JSON reply. Both sides parse with these schemas: the server every request body, the
 * client every reply. Failures come back as `{ error: { code, message, retryable } }` so the
 * client can rebuild the same FerryError subclass.
 */

const name = z.string().min(1).max(200);
const bytes = z.number().nonnegative();

export const migrationRequestSchema = z.strictObject({
  migrationId: name,
  instance: name,
  from: name,
  to: name,
}) satisfies z.ZodType<MigrationRequest>;

export const handleSchema = z.object({
  migrationId: name,
  instance: name,
  from: name,
  to: name,
  ref: z.string().optional(),
}) satisfies z.ZodType<MigrationHandle>;

export const tuningSchema = z.strictObject({
  downtimeLimitMs: z.number().nonnegative(),
  maxBandwidthBytesPerS: z.number().positive().optional(),
  autoConverge: z.boolean(),
  postcopyCapable: z.boolean(),
  multifdChannels: z.number().int().min(1).max(255).optional(),
}) satisfies z.ZodType<Tuning>;

const hostSchema = z.object({
  name,
  vcpus: z.number(),
  memoryBytes: bytes,
  nicBytesPerS: bytes,
  cpuModel: z.string().optional(),
  az: z.string().optional(),
  labels: z.array(z.string()),
  schedulable: z.boolean(),
  disabledReason: z.string().optional(),
});

const instanceSchema = z.object({
  name,
  host: name,
  vcpus: z.number(),
  memoryBytes: bytes,
  antiAffinityGroup: z.string().optional(),
  migratable: z.boolean(),
  notMigratableReason: z.string().optional(),
  dirtyBytesPerS: bytes,
  downtimeSloMs: z.number().optional(),
});

export const fleetReplySchema = z.object({
  hosts: z.array(hostSchema),
  instances: z.array(instanceSchema),
}) satisfies z.ZodType<Fleet>;

const statuses = [
  'setup',
  'active',
  'postcopy-active',
  'device',
  'completed',
  'failed',
  'cancelled',
] as const satisfies readonly MigrationStatus[];

export const sampleReplySchema = z.object({
  at: z.number(),
  status: z.enum(statuses),
  totalBytes: bytes,
  transferredBytes: bytes,
  remainingBytes: bytes,
  dirtyBytesPerS: bytes,
  bandwidthBytesPerS: bytes,
  iteration: z.number().int().nonnegative(),
  expectedDowntimeMs: z.number().optional(),
  downtimeMs: z.number().optional(),
  throttlePct: z.number().optional(),
  paused: z.boolean().optional(),
  error: z.string().optional(),
}) satisfies z.ZodType<ProgressSample>;

export const precheckReplySchema = z.union([
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), reasons: z.array(z.string()) }),
]) satisfies z.ZodType<PrecheckResult>;

export const maintenanceReplySchema = z.object({ ok: z.boolean(), output: z.string() });

export const emptyReplySchema = z.object({});

/** Each operation: the body the server accepts. */
export const requestSchemas = {
  inventory: z.strictObject({}),
  'set-schedulable': z.strictObject({ host: name, enabled: z.boolean(), reason: z.string().max(1000) }),
  precheck: z.strictObject({ request: migrationRequestSchema }),
  start: z.strictObject({ request: migrationRequestSchema, tuning: tuningSchema }),
  sample: z.strictObject({ handle: handleSchema }),
  /** Many samples in one request (a worker's tick): each answered, or failed, on its own. */
  'sample-many': z.strictObject({ handles: z.array(handleSchema).max(10_000) }),
  tune: z.strictObject({ handle: handleSchema, tuning: tuningSchema.partial() }),
  'switch-to-postcopy': z.strictObject({ handle: handleSchema }),
  'recover-postcopy': z.strictObject({ handle: handleSchema }),
  pause: z.strictObject({ handle: handleSchema }),
  abort: z.strictObject({ handle: handleSchema }),
  'run-maintenance': z.strictObject({ host: name }),
  'inject-fault': z.strictObject({ fault: simFaultSchema }),
} as const;

export type Operation = keyof typeof requestSchemas;
export type OperationBody<O extends Operation> = z.infer<(typeof requestSchemas)[O]>;

export const errorReplySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), retryable: z.boolean() }),
});

export type ErrorReply = { error: { code: ErrorCode; message: string; retryable: boolean } };

/** `sample-many`'s reply: per handle, in order, its sample or its error. */
export const sampleManyReplySchema = z.object({
  results: z.array(z.union([z.object({ sample: sampleReplySchema }), errorReplySchema])),
});

const migrationViewSchema = z.object({
  id: name,
  instance: name,
  from: name,
  to: name,
  phase: z.enum(['precopy', 'switchover', 'paused', 'postcopy', 'completed', 'failed', 'cancelled']),
  startedAt: z.number(),
  endedAt: z.number().optional(),
  downtimeMs: z.number().optional(),
  transferredBytes: bytes,
  remainingBytes: bytes,
  iteration: z.number().int(),
  throttlePct: z.number(),
  rateBytesPerS: bytes,
  stalled: z.boolean(),
  error: z.string().optional(),
}) satisfies z.ZodType<SimMigrationView>;

export const snapshotReplySchema = z.object({
  at: z.number(),
  fleet: fleetReplySchema,
  migrations: z.array(migrationViewSchema),
  failedHosts: z.record(z.string(), z.string()),
  lostInstances: z.record(z.string(), z.string()),
  maintenanceRuns: z.array(z.object({ host: z.string(), at: z.number() })),
}) satisfies z.ZodType<SimSnapshot>;
