import type { Clock } from '../../clock.js';
import { type FerryConfig, fleetFromConfig } from '../../config.js';
import { GBPS } from '../../model.js';
import { SimDriver, type SimOptions } from './driver.js';

export { DEFAULT_MAINTENANCE_MS, SimDriver, type SimOptions } from './driver.js';
export { type SimFault, simFaultSchema } from './faults.js';
export { FleetSim, type SimSnapshot } from './fleet-sim.js';
export { JITTER_FRACTION } from './jitter.js';
export type { SimMigrationView, SimPhase } from './migration.js';
export { RemoteSimDriver, type RemoteSimOptions } from './remote.js';
export { type SimServer, type SimServerOptions, startSimServer } from './server.js';

/** The simulator from a validated config: its fleet, and the policy's per-stream cap. */
export function createSimDriver(
  config: FerryConfig,
  clock: Clock,
  extra: Pick<SimOptions, 'seed' | 'faults' | 'maintenanceMs'> = {},
): SimDriver {
  return new SimDriver({
    fleet: fleetFromConfig(config),
    clock,
    streamCapBytesPerS: config.policy.streamCapGbps * GBPS,
    ...extra,
  });
}
