/**
 * The engine without Slack (`ferry/engine`): load a config, build a driver and an engine in one
 * process or durable on Redis, and call it through FerryService.
 */
export { systemClock } from './clock.js';
export {
  configSchema,
  createDriver,
  createDurableEngine,
  createLocalEngine,
  type FerryConfig,
  loadConfig,
  parseConfig,
} from './compose.js';
export * from './errors.js';
export type * from './model.js';
export type { FerryService, Schedule } from './ports.js';
