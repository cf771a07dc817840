import type { Clock } from '../../clock.js';
import { type FerryConfig, fleetFromConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { SshPool } from '../../ssh/pool.js';
import { libvirtConfigSchema } from './config.js';
import { LibvirtDriver } from './driver.js';

/** The libvirt driver from a validated config (needs the `ssh:` section; `libvirt:` is optional). */
export function createLibvirtDriver(config: FerryConfig, clock: Clock): LibvirtDriver {
  if (!config.ssh) throw new ConfigError('fleet.driver libvirt needs the "ssh:" config section');
  return new LibvirtDriver({
    fleet: fleetFromConfig(config),
    ssh: SshPool.fromConfig(config.ssh),
    config: config.libvirt ?? libvirtConfigSchema.parse({}),
    clock,
    maintenance: config.maintenance,
  });
}
