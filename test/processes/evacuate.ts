import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { parseFlags } from './flags.js';

/**
 * Asks for an evacuation as a bot of some release would, and exits:
 *   tsx test/processes/evacuate.ts --config FILE --redis URL --sim-url URL --host HOST
 *     [--speed FACTOR] [--release DIR]
 * `--release` is the root of an earlier release's tree (test/support/release.ts): its own engine
 * then writes the evacuation, exactly as that release did. Prints `evacuation <id>`.
 */

const USAGE =
  'usage: evacuate --config FILE --redis URL --sim-url URL --host HOST [--speed FACTOR] [--release DIR]';

const argsSchema = z.object({
  config: z.string().min(1, 'the config file (--config FILE)'),
  redis: z.string().regex(/^rediss?:\/\//, 'a redis:// URL (--redis URL)'),
  'sim-url': z.string().regex(/^https?:\/\//, 'the sim server URL (--sim-url URL)'),
  host: z.string().min(1, 'the host to drain (--host HOST)'),
  speed: z.coerce.number().positive().default(1),
  release: z
    .string()
    .min(1)
    .default(new URL('../..', import.meta.url).pathname),
});

const args = parseFlags(argsSchema, USAGE);
const from = (path: string) => import(pathToFileURL(`${args.release}/src/engine/${path}`).href);
// That release's modules, whatever their types were then.
const { createDurableEngine, loadConfig } = await from('compose.ts');
const { simClock } = await from('drivers/sim/clock.ts');
const { RemoteSimDriver } = await from('drivers/sim/remote.ts');
const { redisConfigSchema } = await from('store/redis/config.ts');

const config = loadConfig(args.config);
const driver = new RemoteSimDriver({ url: args['sim-url'] });
const engine = createDurableEngine({
  config: { ...config, redis: redisConfigSchema.parse({ ...config.redis, url: args.redis }) },
  driver,
  clock: await simClock(driver, args.speed),
  via: 'slack',
  clockRate: args.speed,
});
try {
  const { id } = await engine.service.evacuate({
    source: args.host,
    requestedBy: 'U0ALICE',
    reason: 'kernel update',
    maintenance: false,
    when: { kind: 'now' },
  });
  process.stdout.write(`evacuation ${id}\n`);
} finally {
  await engine.close();
}
process.exit(0);
