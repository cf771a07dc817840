import { systemClock } from './engine/clock.js';
import { createDriver, createDurableEngine, loadConfig } from './engine/compose.js';
import { ConfigError, toFerryError } from './engine/errors.js';
import type { Log } from './engine/log.js';
import { FerryMetrics } from './engine/metrics.js';
import { redisConfigSchema } from './engine/store/redis/index.js';
import { isEntry, programArgs, runMain, serveProgramMetrics } from './entry.js';

/**
 * `ferry-worker --config FILE [--redis URL]`: the durable engine's worker on its own, against the
 * config's real driver and Redis. Run it beside (or instead of) the bots' embedded workers: a bot
 * mounted with `worker: false` then only plans and talks to Redis, and these processes move VMs.
 * Any number may run; a worker that dies has its evacuations taken over by another.
 */

const USAGE = 'usage: ferry-worker --config FILE [--redis redis://HOST:PORT] [--name NAME]';

/** Loads the config, builds its driver and the durable engine, and starts taking evacuations. */
export async function startWorker(
  argv: string[],
  env: NodeJS.ProcessEnv,
  log: Log,
): Promise<{ stop(): Promise<void>; metricsPort?: number }> {
  const args = programArgs(argv, env, USAGE);
  const path = args.config;
  const config = loadConfig(path);
  const url = args.redis;
  const redis = redisConfigSchema.parse({ ...config.redis, ...(url ? { url } : {}) });
  const driver = createDriver(config, systemClock);
  const metrics = new FerryMetrics(log);
  const engine = createDurableEngine({
    metrics,
    config: { ...config, redis },
    driver,
    clock: systemClock,
    via: 'worker',
    workerName: args.name,
    log,
  });
  try {
    await engine.redis.ping().catch((err) => {
      throw new ConfigError(`cannot reach Redis at ${redis.url}: ${toFerryError(err).message}`);
    });
    // A keyspace a newer ferry wrote is refused here, before this worker takes a job.
    await engine.prepare();
  } catch (err) {
    await engine.close();
    await driver.close();
    throw err;
  }
  let served: Awaited<ReturnType<typeof serveProgramMetrics>>;
  try {
    served = await serveProgramMetrics(metrics.registry, config.metrics, args, log);
  } catch (err) {
    await engine.close();
    await driver.close();
    throw err;
  }
  engine.startWorker();
  log(
    `worker running: ${config.fleet.driver} driver on ${redis.url}` +
      (served.port !== undefined ? `, metrics on port ${served.port}` : ''),
  );
  return {
    metricsPort: served.port,
    async stop() {
      await served.close();
      await engine.close();
      await driver.close();
    },
  };
}

if (isEntry(import.meta.url)) runMain(startWorker, 'ferry-worker');
