import { join } from 'node:path';
import { acceleratedClock, type Clock } from '../../src/engine/clock.js';
import { createLocalEngine, type FerryConfig, loadConfig } from '../../src/engine/compose.js';
import type { PolicyConfig } from '../../src/engine/config.js';
import { createSimDriver, type SimFault } from '../../src/engine/drivers/sim/index.js';
import type { FerryService } from '../../src/engine/ports.js';
import { spyService } from '../support/spy-service.js';

/**
 * The real engine on the simulator for end-to-end tests: an example fleet, a clock running
 * `factor` times faster than the wall clock (Bolt, HTTP and Redis do real I/O, so no virtual
 * time here), and a spy that records every call the Slack side makes to the engine.
 */
export interface SimEngine {
  config: FerryConfig;
  clock: Clock;
  service: FerryService;
  /** Engine calls made through `service`, by method name, in order. */
  calls: string[];
}

export function simEngine(
  fleet: 'demo' | 'small' = 'demo',
  factor = 60,
  policy: Partial<PolicyConfig> = {},
  /** Faults the simulated fleet suffers (a stalled stream, a dropped link). */
  faults: SimFault[] = [],
): SimEngine {
  const loaded = loadConfig(join(import.meta.dirname, '..', '..', 'examples', `${fleet}.yaml`));
  const config = { ...loaded, policy: { ...loaded.policy, ...policy } };
  const clock = acceleratedClock(factor);
  const driver = createSimDriver(config, clock, { faults });
  const local = createLocalEngine({ config, driver, clock, via: 'slack' });
  const spy = spyService(local.service);
  return { config, clock, service: spy.service, calls: spy.calls };
}
