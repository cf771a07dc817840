import { Redis } from 'ioredis';
import { z } from 'zod';
import { systemClock } from '../../src/engine/clock.js';
import { createDurableEngine, loadConfig } from '../../src/engine/compose.js';
import { createSimDriver } from '../../src/engine/drivers/sim/index.js';
import { FerryError, toFerryError } from '../../src/engine/errors.js';
import { redisConfigSchema } from '../../src/engine/store/redis/config.js';
import { parseFlags } from './flags.js';

/**
 * One racer: a replica of the durable engine (no worker) that waits at a barrier, then asks for
 * one thing at the same moment as the other racers. The race tests start several.
 *   tsx test/processes/racer.ts --config FILE --redis URL --barrier KEY
 *     --action evacuate|migrate|approve|reject|confirm --subject HOST|VM|APPROVAL_ID|PLAN_ID:NONCE --by USER
 * Prints `ready` before the barrier; then `done <json>` (the service's answer) or
 * `refused <code> <message>`. The barrier is a Redis list: BLPOP until the test pushes a token
 * for every racer, so all of them ask within a millisecond or so of each other.
 */

const USAGE = 'usage: racer --config FILE --redis URL --barrier KEY --action ACTION --subject S --by USER';

const argsSchema = z.object({
  config: z.string().min(1),
  redis: z.string().regex(/^rediss?:\/\//),
  barrier: z.string().min(1),
  action: z.enum(['evacuate', 'migrate', 'approve', 'reject', 'confirm']),
  subject: z.string().min(1),
  by: z.string().min(1),
});

async function main(): Promise<void> {
  const args = parseFlags(argsSchema, USAGE);
  const config = loadConfig(args.config);
  const redisConfig = redisConfigSchema.parse({ ...config.redis, url: args.redis });
  const engine = createDurableEngine({
    config: { ...config, redis: redisConfig },
    driver: createSimDriver(config, systemClock),
    clock: systemClock,
    via: 'racer',
  });
  const barrier = new Redis(args.redis);
  await engine.service.fleet();
  process.stdout.write('ready\n');
  await barrier.blpop(args.barrier, 30);
  try {
    const { service } = engine;
    const [planId = '', nonce = ''] = args.subject.split(':');
    const answer =
      args.action === 'confirm'
        ? await service.confirm({ planId, nonce }, args.by)
        : args.action === 'evacuate'
          ? await service.evacuate({ source: args.subject, requestedBy: args.by, maintenance: false })
          : args.action === 'migrate'
            ? await service.migrate({ instance: args.subject, requestedBy: args.by })
            : await service.decide(
                args.subject,
                args.action === 'approve' ? 'approved' : 'rejected',
                args.by,
              );
    process.stdout.write(`done ${JSON.stringify(answer)}\n`);
  } catch (err) {
    const error = toFerryError(err);
    process.stdout.write(`refused ${error.code} ${error.userMessage}\n`);
  }
  barrier.disconnect();
  await engine.close();
}

main().catch((err) => {
  process.stderr.write(`${err instanceof FerryError ? err.userMessage : String(err)}\n`);
  process.exit(1);
});
