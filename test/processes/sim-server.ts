import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { acceleratedClock } from '../../src/engine/clock.js';
import { loadConfig } from '../../src/engine/compose.js';
import { simFaultSchema } from '../../src/engine/drivers/sim/faults.js';
import { createSimDriver } from '../../src/engine/drivers/sim/index.js';
import { startSimServer } from '../../src/engine/drivers/sim/server.js';
import { ConfigError, FerryError } from '../../src/engine/errors.js';
import { parseFlags } from './flags.js';

/**
 * Runs the simulated fleet as its own process:
 *   tsx test/processes/sim-server.ts --config FILE [--port 0] [--speed 20] [--seed 1]
 *     [--faults FAULTS.json]
 * Prints `listening <port>` once it accepts requests; SIGTERM or SIGINT stop it.
 */

const USAGE = 'usage: sim-server --config FILE [--port N] [--speed FACTOR] [--seed N] [--faults FILE.json]';

const argsSchema = z.object({
  config: z.string({ error: 'is required: the ferry config file' }).min(1),
  port: z.coerce.number().int().min(0).max(65535).default(0),
  speed: z.coerce.number().positive().default(1),
  seed: z.coerce.number().int().nonnegative().default(1),
  faults: z.string().optional(),
});

async function main(): Promise<void> {
  const args = parseFlags(argsSchema, USAGE);
  const config = loadConfig(args.config);
  const faults = args.faults === undefined ? [] : readFaults(args.faults);
  const driver = createSimDriver(config, acceleratedClock(args.speed), { seed: args.seed, faults });
  const server = await startSimServer({ driver, port: args.port });
  process.stdout.write(`listening ${server.port}\n`);
  const stop = () => {
    server.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

function readFaults(path: string) {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read faults file ${path}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = z.array(simFaultSchema).safeParse(json);
  if (!parsed.success)
    throw new ConfigError(
      `${path} is not a list of sim faults: ${parsed.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof FerryError ? err.userMessage : String(err)}\n`);
  process.exit(1);
});
