import type { Worker } from 'bullmq';
import type { Clock } from '../clock.js';
import type { FerryConfig } from '../config.js';
import type { Driver } from '../drivers/driver.js';
import { policyForDriver } from '../policy.js';
import { runnerDeps } from '../runner/evacuation.js';
import { EngineService } from '../service.js';
import { RedisAdmissionGate } from './admission.js';
import { RedisApprovals } from './approvals.js';
import { RedisAudit } from './audit.js';
import { connect, type RedisClient, type RedisConfig, redisConfigSchema } from './config.js';
import { RedisControl } from './control.js';
import { BullLauncher, type EvacuationJobData } from './launcher.js';
import { RedisLocks } from './locks.js';
import { RedisStore } from './store.js';

/**
 * The durable engine: EngineService over Redis ports and the BullMQ launcher. Every bot process
 * builds one; any of them may run workers. State lives in Redis only, so two of these on one
 * Redis are two replicas of the same engine.
 */

export interface DurableEngineOptions {
  config: Pick<FerryConfig, 'policy' | 'windows' | 'timezone' | 'maintenance'> & { redis?: RedisConfig };
  driver: Driver;
  clock: Clock;
  /** An open client to share; without it one is opened from `config.redis` (and closed by `close`). */
  redis?: RedisClient;
  /** Where requests come from, for the audit log (`slack`, `cli`). */
  via: string;
  /** Clock ms per wall ms, for an accelerated clock (see BullLauncher). */
  clockRate?: number;
  /** Worker name on jobs (`processedBy`). */
  workerName?: string;
  log?: (line: string) => void;
}

export interface DurableEngine {
  service: EngineService;
  store: RedisStore;
  approvals: RedisApprovals;
  control: RedisControl;
  locks: RedisLocks;
  audit: RedisAudit;
  launcher: BullLauncher;
  redis: RedisClient;
  /** Starts a worker in this process that runs evacuations (several at once). */
  startWorker(): Worker<EvacuationJobData>;
  /** Stops this process's workers and queue; closes the Redis client if this engine opened it. */
  close(): Promise<void>;
}

export function createDurableEngine(options: DurableEngineOptions): DurableEngine {
  const { driver, clock, log } = options;
  const config = { ...options.config, policy: policyForDriver(options.config.policy, driver) };
  const redisConfig = config.redis ?? redisConfigSchema.parse({});
  const redis = options.redis ?? connect(redisConfig, { log });
  const { prefix } = redisConfig;
  const ports = {
    store: new RedisStore(redis, prefix),
    approvals: new RedisApprovals(redis, prefix),
    control: new RedisControl(redis, prefix),
    locks: new RedisLocks(redis, prefix),
    audit: new RedisAudit(redis, prefix),
    admission: new RedisAdmissionGate(redis, prefix),
  };
  const launcher = new BullLauncher({
    redis,
    prefix,
    clock,
    tuning: redisConfig.worker,
    clockRate: options.clockRate,
    log,
  });
  const service = new EngineService({ ...ports, config, driver, launcher, clock, via: options.via });
  return {
    service,
    ...ports,
    launcher,
    redis,
    startWorker: () =>
      launcher.startWorker({
        ...runnerDeps(config, driver, clock, ports, log),
        store: ports.store,
        name: options.workerName,
      }),
    close: async () => {
      await launcher.close();
      if (!options.redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
