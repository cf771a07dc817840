import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Clock } from '../engine/clock.js';
import type { FerryConfig } from '../engine/config.js';
import type { Driver, DriverKind } from '../engine/drivers/driver.js';
import { createSimDriver } from '../engine/drivers/sim/index.js';
import { ConfigError } from '../engine/errors.js';
import { createLocalEngine } from '../engine/local.js';
import type { FerryService } from '../engine/ports.js';

/**
 * What the bot runs on: the driver named by `fleet.driver`, and the engine — durable (BullMQ +
 * Redis, any number of bot processes) when the queue module is present, else in this process over
 * memory. The bot entry and the demo build it the same way, here.
 */

export interface BotEngine {
  service: FerryService;
  /** `durable`: state and jobs in Redis; `memory`: this process only (lost on restart). */
  kind: 'durable' | 'memory';
  /** Starts executing evacuations (the durable worker; the in-process launcher needs nothing). */
  startWorker(): Promise<void>;
  close(): Promise<void>;
}

/** Driver factories by `fleet.driver`; each driver's owner adds theirs here. */
export const DRIVERS: Partial<Record<DriverKind, (config: FerryConfig, clock: Clock) => Driver>> = {
  sim: (config, clock) => createSimDriver(config, clock),
};

/** The driver the config names, or a ConfigError saying which ones the bot can run. */
export function createDriver(config: FerryConfig, clock: Clock): Driver {
  const make = DRIVERS[config.fleet.driver];
  if (!make)
    throw new ConfigError(
      `fleet.driver is "${config.fleet.driver}", which the bot cannot run yet; use one of: ${Object.keys(DRIVERS).join(', ')}`,
    );
  return make(config, clock);
}

/** The durable engine's module (src/engine/queue), imported only when it is there. */
const QUEUE_MODULE = '../engine/queue/index.js';

interface DurableModule {
  createDurableEngine(options: {
    config: FerryConfig;
    driver: Driver;
    clock: Clock;
    redis?: Redis;
    via: string;
  }): { service: FerryService; startWorker(): Promise<void> | void; close(): Promise<void> };
}

async function loadDurable(): Promise<DurableModule | undefined> {
  // tsx runs the .ts sources; a build would have .js files. Either means the queue exists.
  const path = fileURLToPath(new URL(QUEUE_MODULE, import.meta.url));
  if (!existsSync(path) && !existsSync(path.replace(/\.js$/, '.ts'))) return undefined;
  return (await import(/* @vite-ignore */ QUEUE_MODULE)) as DurableModule;
}

/** Builds the engine for the bot: durable on `redis` when the queue module exists, else in memory. */
export async function createBotEngine(options: {
  config: FerryConfig;
  driver: Driver;
  clock: Clock;
  redis: Redis;
  /** Force the in-memory engine (tests that restart only the Slack side). */
  memory?: boolean;
  log?: (line: string) => void;
}): Promise<BotEngine> {
  const { config, driver, clock, redis } = options;
  const durable = options.memory ? undefined : await loadDurable();
  if (durable) {
    const engine = durable.createDurableEngine({ config, driver, clock, redis, via: 'slack' });
    return {
      service: engine.service,
      kind: 'durable',
      startWorker: async () => {
        await engine.startWorker();
      },
      close: () => engine.close(),
    };
  }
  const local = createLocalEngine({ config, driver, clock, via: 'slack', log: options.log });
  return {
    service: local.service,
    kind: 'memory',
    startWorker: async () => {},
    close: async () => {},
  };
}
