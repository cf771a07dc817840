/** The durable engine: Redis ports, the BullMQ launcher and their wiring. */
export { RedisAdmissionGate } from './admission.js';
export { RedisApprovals } from './approvals.js';
export { RedisAudit } from './audit.js';
export {
  connect,
  type RedisClient,
  type RedisConfig,
  reconnectDelayMs,
  redisConfigSchema,
  type WorkerTuning,
  workerTuningSchema,
} from './config.js';
export { RedisControl } from './control.js';
export { createDurableEngine, type DurableEngine, type DurableEngineOptions } from './engine.js';
export { LockLostError, StoredStateError } from './errors.js';
export { Keys } from './keys.js';
export {
  BullLauncher,
  type BullLauncherOptions,
  EVACUATION_QUEUE,
  type EvacuationJobData,
  type WorkerDeps,
} from './launcher.js';
export { RedisLocks } from './locks.js';
export { simClock } from './sim-clock.js';
export { type Fence, RedisStore } from './store.js';
