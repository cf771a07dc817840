import { z } from 'zod';
import { createDurableEngine, loadConfig } from '../../src/engine/compose.js';
import { simClock } from '../../src/engine/drivers/sim/clock.js';
import { RemoteSimDriver } from '../../src/engine/drivers/sim/remote.js';
import { FerryError } from '../../src/engine/errors.js';
import { redisConfigSchema } from '../../src/engine/store/redis/config.js';
import { parseFlags } from './flags.js';

/**
 * A durable worker as its own process, driving a sim server in another (the crash tests kill it):
 *   tsx test/processes/worker.ts --config FILE --redis URL --sim-url URL
 *     [--speed FACTOR] [--name NAME]
 * `--speed` must match the sim server's. Prints `ready <name>` once the worker takes jobs, and
 * `ran <evacuationId> <state>` when an evacuation ends here; SIGTERM or SIGINT close it cleanly.
 */

const USAGE = 'usage: worker --config FILE --redis URL --sim-url URL [--speed FACTOR] [--name NAME]';

const argsSchema = z.object({
  config: z.string().min(1, 'the config file (--config FILE)'),
  redis: z.string().regex(/^rediss?:\/\//, 'a redis:// URL (--redis URL)'),
  'sim-url': z.string().regex(/^https?:\/\//, 'the sim server URL (--sim-url URL)'),
  speed: z.coerce.number().positive().default(1),
  name: z.string().min(1).default(`worker-${process.pid}`),
});

async function main(): Promise<void> {
  const args = parseFlags(argsSchema, USAGE);
  const config = loadConfig(args.config);
  const redis = redisConfigSchema.parse({ ...config.redis, url: args.redis });
  const driver = new RemoteSimDriver({ url: args['sim-url'] });
  const clock = await simClock(driver, args.speed);
  const log = (line: string) => process.stderr.write(`[${args.name}] ${line}\n`);
  const engine = createDurableEngine({
    config: { ...config, redis },
    driver,
    clock,
    via: 'worker',
    clockRate: args.speed,
    workerName: args.name,
    log,
  });
  await engine.prepare();
  const worker = engine.startWorker();
  worker.on('completed', (job, result: { state?: string }) => {
    process.stdout.write(`ran ${job.id} ${result?.state ?? '?'}\n`);
  });
  await worker.waitUntilReady();
  process.stdout.write(`ready ${args.name}\n`);
  const stop = () => {
    engine.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`${err instanceof FerryError ? err.userMessage : String(err)}\n`);
  process.exit(1);
});
