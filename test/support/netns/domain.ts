import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAME_PATTERN } from '../../../src/engine/model.js';
import { buildGuest, waitForGuest } from '../guest.js';
import { type GuestSpec, guestCommandLine, guestRamMiB } from '../qemu.js';
import type { Topology, TopologyHost } from './topology.js';

/**
 * The multiboot test guest as a libvirt domain: type `qemu` (TCG; /dev/kvm on this kind of
 * machine is a slow software hypervisor), no disk, no NIC, its serial port appended to a file in
 * the host's /var/log/libvirt. After a migration the guest goes on printing into the destination
 * host's file, which is how a test checks its memory on arrival.
 */
export function guestDomainXml(name: string, spec: GuestSpec): string {
  if (!NAME_PATTERN.test(name)) throw new Error(`domain name "${name}" is not a plain name`);
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>${guestRamMiB(spec)}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${buildGuest()}</kernel>
    <cmdline>${guestCommandLine(spec)}</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'>
      <source path='${serialPathOnHost(name)}' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

const serialPathOnHost = (name: string) => `/var/log/libvirt/${name}-serial.log`;

/** The guest's serial log on `host`, as the test runner reads it. */
export function serialOf(host: TopologyHost, name: string): string {
  return host.path(serialPathOnHost(name));
}

/**
 * Defines `name` on `host` (persistent, as an operator's domain would be) and starts it; returns
 * once the guest has filled its pages and printed its first check.
 */
export async function startGuestDomain(
  topology: Topology,
  host: TopologyHost,
  name: string,
  spec: GuestSpec,
): Promise<void> {
  // The kernel path is the same on every host: /tmp is not private to a host.
  const dir = join(topology.dir, 'domains');
  mkdirSync(dir, { recursive: true });
  const xml = join(dir, `${name}.xml`);
  writeFileSync(xml, guestDomainXml(name, spec));
  await host.virsh('define', xml);
  await host.virsh('start', name);
  await waitForGuest(serialOf(host, name), (log) => log.progress.length > 0, 60_000);
}

/**
 * Removes every domain from every host (each guest keeps a core busy: one left over would starve
 * the next test's) and their serial logs.
 */
export async function removeGuestDomains(topology: Topology): Promise<void> {
  for (const host of topology.hosts) {
    const names = (await host.virsh('list', '--all', '--name')).split('\n').filter((n) => n.trim());
    for (const name of names) {
      await host.exec(['virsh', '-c', 'qemu:///system', 'destroy', name]);
      await host.exec(['virsh', '-c', 'qemu:///system', 'undefine', name]);
    }
    const logs = host.path('/var/log/libvirt');
    for (const f of readdirSync(logs).filter((n) => n.endsWith('-serial.log')))
      rmSync(join(logs, f), { force: true });
  }
}
