import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { Driver, DriverModule } from './driver.js';
import { driverModule as libvirt } from './libvirt/index.js';
import { driverModule as nova } from './nova/index.js';
import { driverModule as qemu } from './qemu/index.js';
import { driverModule as sim } from './sim/index.js';

/**
 * The catalog of back ends, strategies behind one interface: a driver is added by its folder
 * and one line here; its config sections, factory and limits come from the folder itself.
 */
export const DRIVERS = [sim, qemu, libvirt, nova] as const;

type Catalog = (typeof DRIVERS)[number];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void
  ? I
  : never;

/** Every driver's config sections, by top-level key (the `ssh:` section is shared). */
export const driverSections = Object.assign({}, ...DRIVERS.map((d) => d.sections)) as UnionToIntersection<
  Catalog['sections']
>;

export const driverKinds = DRIVERS.map((d) => d.kind) as [Catalog['kind'], ...Catalog['kind'][]];

/** The driver the config names; a missing config section is a ConfigError saying which. */
export function createDriver(
  config: Parameters<Catalog['create']>[0] & { fleet: { driver: string } },
  clock: Clock,
): Driver {
  const module = DRIVERS.find((d) => d.kind === config.fleet.driver) as DriverModule | undefined;
  if (!module)
    throw new ConfigError(
      `fleet.driver: no driver named "${config.fleet.driver}" (${driverKinds.join(', ')})`,
    );
  return module.create(config, clock);
}
