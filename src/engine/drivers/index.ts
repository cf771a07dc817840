import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { Driver, DriverLacks, DriverModule } from './driver.js';
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

/** The catalog's module of `kind`; an unknown kind is a ConfigError listing the known ones. */
function moduleOf(kind: string): DriverModule {
  const module = DRIVERS.find((d) => d.kind === kind) as DriverModule | undefined;
  if (!module) throw new ConfigError(`fleet.driver: no driver named "${kind}" (${driverKinds.join(', ')})`);
  return module;
}

/** The driver the config names; a missing config section is a ConfigError saying which. */
export function createDriver(
  config: Parameters<Catalog['create']>[0] & { fleet: { driver: string } },
  clock: Clock,
): Driver {
  return moduleOf(config.fleet.driver).create(config, clock);
}

/** What a kind of back end cannot do, without building its driver (a bot that runs no worker plans with it). */
export function lacksOf(kind: string): DriverLacks {
  return moduleOf(kind).lacks;
}
