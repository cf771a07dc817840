/** The engine's ports on Redis, and the BullMQ launcher beside them. */
export { RedisAdmissionGate } from './admission.js';
export { type ApprovalTime, RedisApprovals } from './approvals.js';
export { RedisAudit } from './audit.js';
export { RedisCampaigns } from './campaigns.js';
export {
  connect,
  type RedisClient,
  type RedisConfig,
  type Retention,
  reconnectDelayMs,
  redisConfigSchema,
  retentionSchema,
  type WorkerTuning,
  workerTuningSchema,
} from './config.js';
export { RedisControl } from './control.js';
export { LockLostError, SchemaVersionError, StoredStateError } from './errors.js';
export {
  FLEET_TTL_PERIODS,
  type FleetSnapshot,
  publishedInventory,
  publishFleet,
  RedisFleet,
} from './fleet.js';
export { Keys } from './keys.js';
export {
  BullLauncher,
  type BullLauncherOptions,
  EVACUATION_QUEUE,
  type EvacuationJobData,
  type WorkerDeps,
} from './launcher.js';
export { RedisPlans } from './plans.js';
export { confirmReplicated, inheritReplicas, ReplicaAckError } from './replication.js';
export { type Fence, RedisStore } from './store.js';
export { SCHEMA_VERSION } from './version.js';
