import type { Clock } from '../../clock.js';
import { fleetFromConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { sshConfigSchema } from '../../ssh/config.js';
import { SshPool } from '../../ssh/pool.js';
import { type DriverConfig, defineDriver } from '../driver.js';
import { qemuConfigSchema } from './config.js';
import { QemuDriver } from './driver.js';

const sections = { ssh: sshConfigSchema.optional(), qemu: qemuConfigSchema.optional() };

/** The qemu driver from a validated config (needs the `ssh:` and `qemu:` sections). */
export function createQemuDriver(config: DriverConfig<typeof sections>, clock: Clock): QemuDriver {
  const { ssh, qemu } = config;
  if (!ssh || !qemu) throw new ConfigError('fleet.driver qemu needs the "ssh:" and "qemu:" config sections');
  const sshAddress = new Map(ssh.hosts.map((h) => [h.name, h.address]));
  const fleet = fleetFromConfig(config);
  return new QemuDriver({
    fleet,
    ssh: SshPool.fromConfig(
      ssh,
      fleet.hosts.map((h) => h.name),
    ),
    // Arm auto-converge exactly when the policy may use it.
    config: { ...qemu, armAutoConverge: qemu.armAutoConverge ?? config.policy.allowAutoConverge },
    clock,
    migrationAddress: (host) => qemu.migrationAddresses[host] ?? sshAddress.get(host) ?? host,
    maintenance: config.maintenance,
  });
}

/** QMP over SSH to each host's QEMU processes. */
export const driverModule = defineDriver({ kind: 'qemu', sections, lacks: {}, create: createQemuDriver });
