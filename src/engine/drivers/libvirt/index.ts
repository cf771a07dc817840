import type { Clock } from '../../clock.js';
import { fleetFromConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { sshConfigSchema } from '../../ssh/config.js';
import { SshPool } from '../../ssh/pool.js';
import { type DriverConfig, defineDriver } from '../driver.js';
import { libvirtConfigSchema } from './config.js';
import { migrationAddresses, withPolicyDefaults } from './defaults.js';
import { LibvirtDriver } from './driver.js';

const sections = { ssh: sshConfigSchema.optional(), libvirt: libvirtConfigSchema.optional() };

/** The libvirt driver from a validated config (needs the `ssh:` section; `libvirt:` is optional). */
export function createLibvirtDriver(config: DriverConfig<typeof sections>, clock: Clock): LibvirtDriver {
  if (!config.ssh) throw new ConfigError('fleet.driver libvirt needs the "ssh:" config section');
  return new LibvirtDriver({
    fleet: fleetFromConfig(config),
    ssh: SshPool.fromConfig(
      config.ssh,
      config.fleet.hosts.map((h) => h.name),
    ),
    config: withPolicyDefaults(config.libvirt ?? libvirtConfigSchema.parse({}), config.policy),
    clock,
    migrationAddress: migrationAddresses(config.libvirt, config.ssh),
    maintenance: config.maintenance,
  });
}

/** virsh over SSH on each host. */
export const driverModule = defineDriver({
  kind: 'libvirt',
  sections,
  lacks: {},
  create: createLibvirtDriver,
});
