import { hostname } from 'node:os';
import type { Worker } from 'bullmq';
import { z } from 'zod';
import type { Clock } from './clock.js';
import {
  type CoreConfig,
  checkCoreConfig,
  coreConfigShape,
  describeIssues,
  fleetSchema,
  parseConfigText,
  readConfigFile,
} from './config.js';
import type { Driver } from './drivers/driver.js';
import { driverKinds, driverSections } from './drivers/index.js';
import { ConfigError } from './errors.js';
import type { Log } from './log.js';
import { type FerryMetrics, metricsConfigSchema } from './metrics.js';
import type { Evacuation } from './model.js';
import { withSecrets } from './secrets.js';

export { createDriver } from './drivers/index.js';

import { lacksOf } from './drivers/index.js';

import { policyForDriver } from './evacuation/policy.js';
import { runnerDeps } from './evacuation/runner.js';
import type { FerryService } from './ports.js';
import { EngineService } from './service.js';
import {
  InProcessLauncher,
  MemoryAdmissionGate,
  MemoryApprovals,
  MemoryAudit,
  MemoryCampaigns,
  MemoryControl,
  MemoryPlans,
  MemoryStore,
} from './store/memory/index.js';
import {
  type ApprovalTime,
  BullLauncher,
  connect,
  type EvacuationJobData,
  publishedInventory,
  publishFleet,
  RedisAdmissionGate,
  RedisApprovals,
  RedisAudit,
  RedisCampaigns,
  type RedisClient,
  type RedisConfig,
  RedisControl,
  RedisFleet,
  RedisPlans,
  RedisStore,
  redisConfigSchema,
} from './store/redis/index.js';

/** The whole config file: the core, every driver's sections and the store's. */
export const configSchema = z
  .strictObject({
    ...coreConfigShape,
    fleet: fleetSchema.extend({ driver: z.enum(driverKinds).default('sim') }),
    ...driverSections,
    redis: redisConfigSchema.optional(),
    metrics: metricsConfigSchema.optional(),
  })
  .superRefine(checkCoreConfig);

export type FerryConfig = z.output<typeof configSchema>;

/**
 * Parses and validates config text; `source` names the file in error messages. The secrets the
 * environment sets (or names files for) take precedence over the file's (secrets.ts).
 */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): FerryConfig {
  return parseConfigText(
    z.preprocess((raw) => withSecrets(raw, env), configSchema),
    text,
    source,
  ) as FerryConfig;
}

/**
 * Validates a config a host built as an object (no YAML), exactly like a file's: the environment's
 * secrets first, then the object's; `source` names it in error messages.
 */
export function checkConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): FerryConfig {
  const result = configSchema.safeParse(withSecrets(raw, env));
  if (!result.success) throw new ConfigError(describeIssues(source, result.error.issues));
  return result.data;
}

/** Reads, parses and validates a config file, its secrets from `env` first. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): FerryConfig {
  return parseConfig(readConfigFile(path), path, env);
}

/**
 * The one place that wires an engine: EngineService and the runner over memory ports (the CLI,
 * the bench, tests) or over Redis ports with the BullMQ launcher (the bot). Both apply the
 * driver's limits to the policy here, once.
 */

type EngineConfig = Pick<CoreConfig, 'policy' | 'windows' | 'timezone' | 'maintenance'>;

function engineConfig<C extends EngineConfig>(config: C, driver: Pick<Driver, 'lacks'>): C {
  return { ...config, policy: policyForDriver(config.policy, driver) };
}

/**
 * The engine in one process over memory. `answer` decides every approval request at once (the
 * CLI's --approve); without it, approvals wait for `service.decide`.
 */
export function createLocalEngine(options: {
  config: EngineConfig;
  driver: Driver;
  clock: Clock;
  answer?: { outcome: 'approved' | 'rejected'; by: string };
  via?: string;
  log?: Log;
}) {
  const { driver, clock } = options;
  const config = engineConfig(options.config, driver);
  const ports = {
    store: new MemoryStore(),
    approvals: new MemoryApprovals(options.answer),
    control: new MemoryControl(),
    audit: new MemoryAudit(),
    admission: new MemoryAdmissionGate(),
    campaigns: new MemoryCampaigns(),
    plans: new MemoryPlans(),
  };
  // The runner tells the service when an evacuation ends (campaigns advance there): bound late,
  // the service needs the launcher first.
  let service: EngineService | undefined;
  const onEnded = (evacuation: Evacuation) => service!.evacuationEnded(evacuation);
  const launcher = new InProcessLauncher(
    runnerDeps(config, driver, clock, ports, { log: options.log, onEnded }),
  );
  service = new EngineService({ ...ports, config, driver, launcher, clock, via: options.via ?? 'cli' });
  return { service, launcher, ...ports };
}

export interface DurableEngineOptions {
  config: EngineConfig & { redis?: RedisConfig; fleet?: { driver: string } };
  /**
   * The back end. Without one (a bot that runs no worker) the engine plans on the fleet the
   * workers publish in Redis and cannot start a worker; it needs no driver credentials.
   */
  driver?: Driver;
  clock: Clock;
  /** An open client to share; without it one is opened from `config.redis` (and closed by `close`). */
  redis?: RedisClient;
  /** Where requests come from, for the audit log (`slack`, `cli`). */
  via: string;
  /** Clock ms per wall ms, for an accelerated clock (see BullLauncher). */
  clockRate?: number;
  /** Worker name on jobs (`processedBy`). */
  workerName?: string;
  /** Counts what this engine commits and reads its gauges from its store and queue. */
  metrics?: FerryMetrics;
  log?: Log;
}

export interface DurableEngine {
  service: EngineService;
  store: RedisStore;
  approvals: RedisApprovals;
  control: RedisControl;
  audit: RedisAudit;
  campaigns: RedisCampaigns;
  plans: RedisPlans;
  launcher: BullLauncher;
  redis: RedisClient;
  /** Checks the keyspace's schema version and upgrades it to this one (RedisStore.prepare): call before working on it. */
  prepare(): Promise<void>;
  /**
   * Starts a worker in this process that runs evacuations (several at once) and publishes the
   * driver's inventory for bots without a driver. A ConfigError on an engine without a driver.
   */
  startWorker(): Worker<EvacuationJobData>;
  /** Stops this process's workers and queue; closes the Redis client if this engine opened it. */
  close(): Promise<void>;
}

/**
 * Wall-clock milliseconds by which replicas on an accelerated clock may disagree (they sync to
 * the simulator within half a round trip): every approval's life is shortened by this much,
 * times the rate, so a decision within it of the expiry is refused on every replica.
 */
const ACCELERATED_CLOCK_TOLERANCE_WALL_MS = 100;

/** Expiry is judged by Redis's TIME on a real clock; an accelerated clock only the engine knows. */
function approvalTime(clockRate = 1): ApprovalTime {
  if (clockRate === 1) return { source: 'redis' };
  return { source: 'engine', toleranceMs: ACCELERATED_CLOCK_TOLERANCE_WALL_MS * clockRate };
}

/**
 * The durable engine: state lives in Redis only, so two of these on one Redis are two replicas
 * of the same engine; any of them may run workers.
 */
export function createDurableEngine(options: DurableEngineOptions): DurableEngine {
  const { driver, clock, log } = options;
  // Without a driver, the kind the config names (the schema's default, sim, when it names none).
  const kind = driver?.kind ?? options.config.fleet?.driver ?? 'sim';
  const config = engineConfig(options.config, driver ?? { lacks: lacksOf(kind) });
  const redisConfig = config.redis ?? redisConfigSchema.parse({});
  const redis = options.redis ?? connect(redisConfig, { log });
  const { prefix } = redisConfig;
  const metrics = options.metrics;
  const ports = {
    store: new RedisStore(
      redis,
      prefix,
      undefined,
      undefined,
      redisConfig.retention,
      metrics && ((events) => metrics.observe(events)),
    ),
    approvals: new RedisApprovals(redis, prefix, approvalTime(options.clockRate)),
    control: new RedisControl(redis, prefix),
    audit: new RedisAudit(redis, prefix, redisConfig.retention),
    admission: new RedisAdmissionGate(redis, prefix),
    campaigns: new RedisCampaigns(redis, prefix, redisConfig.retention),
    plans: new RedisPlans(redis, prefix, redisConfig.retention),
  };
  const fleet = new RedisFleet(redis, prefix);
  const publishMs = redisConfig.worker.fleetPublishMs;
  const launcher = new BullLauncher({
    redis,
    prefix,
    clock,
    tuning: redisConfig.worker,
    clockRate: options.clockRate,
    log,
  });
  metrics?.watch({ store: ports.store, queue: launcher.queue });
  const inventory = driver ?? publishedInventory(fleet, { driver: kind, publishMs });
  const service = new EngineService({
    ...ports,
    config,
    driver: inventory,
    launcher,
    clock,
    via: options.via,
  });
  const publishers: { stop(): void }[] = [];
  return {
    service,
    ...ports,
    launcher,
    redis,
    prepare: () => ports.store.prepare(),
    startWorker: () => {
      if (!driver)
        throw new ConfigError('this engine has no driver: evacuations run in ferry-worker processes');
      const by = options.workerName ?? `${hostname()}-${process.pid}`;
      publishers.push(publishFleet({ fleet, driver, by, publishMs, log }));
      return launcher.startWorker({
        ...runnerDeps(config, driver, clock, ports, {
          log,
          onEnded: (evacuation) => service.evacuationEnded(evacuation),
        }),
        store: ports.store,
        name: options.workerName,
      });
    },
    close: async () => {
      for (const publisher of publishers.splice(0)) publisher.stop();
      await launcher.close();
      if (!options.redis) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** The bot's engine: durable, or in this process over memory when asked. */
export interface BotEngine {
  service: FerryService;
  /** `durable`: state and jobs in Redis; `memory`: this process only (lost on restart). */
  kind: 'durable' | 'memory';
  /** Starts executing evacuations in this process (the durable worker; in memory they run anyway). */
  startWorker(): void;
  close(): Promise<void>;
}

/** Builds the bot's engine: durable on `redis`, or in memory (`memory: true`). */
export function createBotEngine(options: {
  config: FerryConfig;
  driver: Driver;
  clock: Clock;
  redis: RedisClient;
  memory?: boolean;
  /** Clock ms per wall ms when the clock is accelerated (the demo): the queue's delays follow it. */
  clockRate?: number;
  log?: Log;
}): BotEngine {
  const { config, driver, clock, redis, log } = options;
  if (options.memory) {
    const local = createLocalEngine({ config, driver, clock, via: 'slack', log });
    return { service: local.service, kind: 'memory', startWorker: () => {}, close: async () => {} };
  }
  const engine = createDurableEngine({
    config,
    driver,
    clock,
    redis,
    via: 'slack',
    clockRate: options.clockRate,
    log,
  });
  return {
    service: engine.service,
    kind: 'durable',
    startWorker: () => {
      engine.startWorker();
    },
    close: () => engine.close(),
  };
}
