import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { ConfigError } from '../../src/engine/errors.js';

/**
 * `--name value` flags of a process entry (the sim server, a durable worker), parsed by `schema`:
 * every flag the schema names is a string flag; a bad or unknown one is a ConfigError naming it,
 * followed by the usage line.
 */
export function parseFlags<S extends z.ZodObject>(
  schema: S,
  usage: string,
  args = process.argv.slice(2),
): z.output<S> {
  const options = Object.fromEntries(
    Object.keys(schema.shape).map((flag) => [flag, { type: 'string' as const }]),
  );
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args, options }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${usage}`);
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success)
    throw new ConfigError(
      `${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}\n${usage}`,
    );
  return parsed.data;
}
