import type { Fleet } from '../model.js';

/**
 * The fleet of a driver whose back end has no inventory of its own (QEMU, libvirt over SSH): the
 * configured hosts and instances, plus what this driver has changed — where instances moved and
 * which hosts are disabled for scheduling.
 */
export class ConfiguredFleet {
  private readonly locations = new Map<string, string>();
  private readonly disabled = new Map<string, string>();

  constructor(private readonly fleet: Fleet) {}

  inventory(): Fleet {
    return {
      hosts: this.fleet.hosts.map((h) => {
        const reason = this.disabled.get(h.name);
        return reason === undefined ? { ...h } : { ...h, schedulable: false, disabledReason: reason };
      }),
      instances: this.fleet.instances.map((i) => ({ ...i, host: this.locations.get(i.name) ?? i.host })),
    };
  }

  setSchedulable(host: string, enabled: boolean, reason: string): void {
    if (enabled) this.disabled.delete(host);
    else this.disabled.set(host, reason);
  }

  /** Records that a migration put `instance` on `host`. */
  moved(instance: string, host: string): void {
    this.locations.set(instance, host);
  }
}
