import { streamCapsOf } from '../../bandwidth.js';
import type { Clock } from '../../clock.js';
import { type CoreConfig, fleetFromConfig } from '../../config.js';
import { GBPS } from '../../model.js';
import { defineDriver } from '../driver.js';
import { SimDriver, type SimOptions } from './driver.js';

export { simClock } from './clock.js';
export { DEFAULT_MAINTENANCE_MS, SimDriver, type SimOptions } from './driver.js';
export { type SimFault, simFaultSchema } from './faults.js';
export { FleetSim, type SimProgress, type SimSnapshot } from './fleet-sim.js';
export { JITTER_FRACTION } from './jitter.js';
export type { SimMigrationView, SimPhase } from './migration.js';
export { RemoteSimDriver, type RemoteSimOptions } from './remote.js';
export { type SimServer, type SimServerOptions, startSimServer } from './server.js';

/** The simulator from a validated config: its fleet, and the policy's per-stream cap. */
export function createSimDriver(
  config: CoreConfig,
  clock: Clock,
  extra: Pick<SimOptions, 'seed' | 'faults' | 'maintenanceMs'> = {},
): SimDriver {
  return new SimDriver({
    fleet: fleetFromConfig(config),
    clock,
    streamCapBytesPerS: config.policy.streamCapGbps * GBPS,
    multifd: simMultifd(config.policy),
    ...extra,
  });
}

/** Multifd's physics for the simulator, from the policy. */
export function simMultifd(policy: CoreConfig['policy']): NonNullable<SimOptions['multifd']> {
  const caps = streamCapsOf(policy);
  return { channelCapBytesPerS: caps.channelCapBytesPerS, coresPerChannel: caps.coresPerChannel };
}

/** The simulated fleet, on the engine's clock. */
export const driverModule = defineDriver({
  kind: 'sim',
  sections: {},
  lacks: {},
  create: (config, clock) => createSimDriver(config, clock),
});
