import type { Clock } from '../../clock.js';
import { type FerryConfig, fleetFromConfig } from '../../config.js';
import { ConfigError } from '../../errors.js';
import { SshPool } from '../../ssh/pool.js';
import { QemuDriver } from './driver.js';

/** The qemu driver from a validated config (needs the `ssh:` and `qemu:` sections). */
export function createQemuDriver(config: FerryConfig, clock: Clock): QemuDriver {
  const { ssh, qemu } = config;
  if (!ssh || !qemu) throw new ConfigError('fleet.driver qemu needs the "ssh:" and "qemu:" config sections');
  const sshAddress = new Map(ssh.hosts.map((h) => [h.name, h.address]));
  return new QemuDriver({
    fleet: fleetFromConfig(config),
    ssh: SshPool.fromConfig(ssh),
    // Arm auto-converge exactly when the policy may use it.
    config: { ...qemu, armAutoConverge: qemu.armAutoConverge ?? config.policy.allowAutoConverge },
    clock,
    migrationAddress: (host) => qemu.migrationAddresses[host] ?? sshAddress.get(host) ?? host,
    maintenance: config.maintenance,
  });
}
