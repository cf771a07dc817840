import type { Clock } from './clock.js';
import type { FerryConfig } from './config.js';
import type { Driver } from './drivers/driver.js';
import { createLocalEngine } from './local.js';
import type { FerryService } from './ports.js';
import { createDurableEngine, type RedisClient } from './queue/index.js';

/**
 * What the bot runs on: the engine — durable (BullMQ +
 * Redis: state, jobs and event streams survive a restart, any number of bot processes share them)
 * by default, or in this process over memory when asked. The bot entry and the demo build it here.
 */

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
  log?: (line: string) => void;
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
