import type { Clock } from '../clock.js';
import type { FerryConfig } from '../config.js';
import type { Driver, DriverKind } from './driver.js';
import { createLibvirtDriver } from './libvirt/index.js';
import { createNovaDriver } from './nova/index.js';
import { createQemuDriver } from './qemu/index.js';
import { createSimDriver } from './sim/index.js';

/** Every back end by its `fleet.driver` name: strategies behind one interface. */
const FACTORIES: Record<DriverKind, (config: FerryConfig, clock: Clock) => Driver> = {
  sim: (config, clock) => createSimDriver(config, clock),
  qemu: createQemuDriver,
  libvirt: createLibvirtDriver,
  nova: createNovaDriver,
};

/** The driver the config names; a missing config section is a ConfigError saying which. */
export function createDriver(config: FerryConfig, clock: Clock): Driver {
  return FACTORIES[config.fleet.driver](config, clock);
}
