import type { SshConfig } from '../../ssh/config.js';
import type { LibvirtConfig } from './config.js';

/** Arms auto-converge exactly when the policy may use it, unless the config says otherwise. */
export function withPolicyDefaults(
  libvirt: LibvirtConfig,
  policy: { allowAutoConverge: boolean },
): LibvirtConfig {
  return { ...libvirt, armAutoConverge: libvirt.armAutoConverge ?? policy.allowAutoConverge };
}

/**
 * A host's migration address (what `{address}` in libvirt.destinationUri becomes): configured in
 * libvirt.migrationAddresses, else the address ferry's SSH uses for it.
 */
export function migrationAddresses(
  libvirt: Pick<LibvirtConfig, 'migrationAddresses'> | undefined,
  ssh: Pick<SshConfig, 'hosts'>,
): (host: string) => string {
  const sshAddress = new Map(ssh.hosts.map((h) => [h.name, h.address]));
  return (host) => libvirt?.migrationAddresses[host] ?? sshAddress.get(host) ?? host;
}
