import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SSHD_TEST_SETTINGS } from '../sshd.js';

/**
 * Where the test topology lives and how its hosts are named and addressed. The names are fixed
 * (one topology per machine), so a run can find and remove what a crashed run left behind.
 * FERRY_TOPOLOGY=<id> (1-4 letters or digits) names another one, for a second checkout on the
 * same machine: without it, each run's clean-up would remove the other's hosts.
 */
const ID = topologyId(process.env.FERRY_TOPOLOGY);
export const TOPOLOGY_DIR = ID === 'lv' ? '/tmp/ferry-netns' : `/tmp/ferry-netns-${ID}`;
/** QEMU capabilities as libvirt probed them: kept across runs (a cold probe costs 8-16 s). */
export const CAPS_CACHE_DIR = '/var/tmp/ferry-libvirt-caps';
/** Network namespaces of the topology: one per host and one for the switch (`ferrylv-sw`). */
export const NETNS_PREFIX = `ferry${ID}-`;

function topologyId(value: string | undefined): string {
  if (value === undefined || value === '') return 'lv';
  if (!/^[a-z0-9]{1,4}$/.test(value))
    throw new Error(`FERRY_TOPOLOGY="${value}": 1-4 lower-case letters or digits`);
  return value;
}
export const SWITCH_NETNS = `${NETNS_PREFIX}sw`;
/** The host's end of its link (the switch's end is `p-NAME`). */
export const UPLINK = 'eth0';
const SUBNET = '10.77.0';

export const HOST_NAME = /^[a-z][a-z0-9]{0,9}$/;

export interface HostLayout {
  name: string;
  netns: string;
  /** The address other hosts (and their libvirtd) reach this host at, inside the topology. */
  address: string;
  hostUuid: string;
  /** The host's private trees (bind-mounted over /etc/libvirt, /var/lib/libvirt, ...). */
  dir: string;
}

export function hostLayout(name: string, index: number, dir = TOPOLOGY_DIR): HostLayout {
  if (!HOST_NAME.test(name)) throw new Error(`topology host name "${name}" must match ${HOST_NAME}`);
  const n = index + 11;
  return {
    name,
    netns: `${NETNS_PREFIX}${name}`,
    address: `${SUBNET}.${n}`,
    // Distinct per host: libvirt refuses a migration to a host with its own uuid ("same host").
    hostUuid: `7e77e77e-0000-4000-8000-${n.toString(16).padStart(12, '0')}`,
    dir: join(dir, name),
  };
}

export interface Keys {
  dir: string;
  /** The key libvirtd and virsh on one host use to reach another (libvirt's own connection). */
  peer: string;
  /** ferry's key (the operator's management key). */
  ferry: string;
  hostKey(host: string): string;
}

function keygen(path: string, comment: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
    stdio: 'ignore',
  });
}

/** Fresh keys for a topology: host keys, the hosts' peer key and ferry's key. */
export function makeKeys(dir: string, hosts: readonly HostLayout[]): Keys {
  const keys = join(dir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  const peer = join(keys, 'peer');
  const ferry = join(keys, 'ferry');
  keygen(peer, 'ferry-topology-peer');
  keygen(ferry, 'ferry-operator');
  for (const h of hosts) keygen(join(keys, `host-${h.name}`), h.name);
  writeFileSync(
    join(keys, 'authorized_keys'),
    [peer, ferry].map((k) => readFileSync(`${k}.pub`, 'utf8')).join(''),
    { mode: 0o600 },
  );
  // What each host's ssh checks the others against: their address and their name.
  writeFileSync(
    join(keys, 'known_hosts'),
    hosts.map((h) => `${h.address},${h.name} ${publicKey(join(keys, `host-${h.name}`))}\n`).join(''),
  );
  return { dir: keys, peer, ferry, hostKey: (host) => join(keys, `host-${host}`) };
}

/** `ssh-ed25519 AAAA...` of a key pair. */
export function publicKey(privatePath: string): string {
  return readFileSync(`${privatePath}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}

/** The host's private trees and config files, from scratch (no state from an earlier run). */
export function writeHostFiles(h: HostLayout, hosts: readonly HostLayout[], keys: Keys): void {
  for (const sub of ['etc-libvirt/qemu', 'var-lib-libvirt/qemu', 'var-log-libvirt/qemu'])
    mkdirSync(join(h.dir, sub), { recursive: true });
  if (!existsSync(CAPS_CACHE_DIR)) mkdirSync(join(CAPS_CACHE_DIR, 'qemu'), { recursive: true });
  const file = (name: string, lines: string[], mode = 0o644) =>
    writeFileSync(join(h.dir, name), `${lines.join('\n')}\n`, { mode });

  file('etc-libvirt/libvirtd.conf', [
    `host_uuid = "${h.hostUuid}"`,
    // No polkit or D-Bus here: the socket's file mode is the only guard (root only).
    'auth_unix_ro = "none"',
    'auth_unix_rw = "none"',
    'log_outputs = "2:file:/var/log/libvirt/libvirtd.log"',
  ]);
  file(
    'etc-libvirt/qemu.conf',
    [
      'user = "root"',
      'group = "root"',
      // The guest kernel and serial files are plain files under /tmp and /var/log/libvirt: no
      // relabelling, no chown, no AppArmor, no cgroups, no private /dev per QEMU.
      'dynamic_ownership = 0',
      'remember_owner = 0',
      'security_driver = "none"',
      'cgroup_controllers = [ ]',
      'namespaces = [ ]',
      // The destination tells the source to send the migration stream to this address.
      `migration_host = "${h.address}"`,
    ],
    0o600,
  );
  file('etc-libvirt/virtlogd.conf', ['log_outputs = "3:file:/var/log/libvirt/virtlogd.log"']);
  file('etc-libvirt/libvirt.conf', ['# ferry test topology: no aliases']);
  file('hosts', ['127.0.0.1 localhost', ...hosts.map((o) => `${o.address} ${o.name}`)]);
  file('hostname', [h.name]);
  file('ssh_config', [
    'Host *',
    `    IdentityFile ${keys.peer}`,
    `    UserKnownHostsFile ${join(keys.dir, 'known_hosts')}`,
    '    GlobalKnownHostsFile /dev/null',
    '    StrictHostKeyChecking yes',
    '    BatchMode yes',
    '    ConnectTimeout 10',
    '    User root',
  ]);
  file('sshd_config', [
    `ListenAddress ${h.address}`,
    'Port 22',
    `HostKey ${keys.hostKey(h.name)}`,
    // In the host's private /run.
    'PidFile /run/sshd.pid',
    `AuthorizedKeysFile ${join(keys.dir, 'authorized_keys')}`,
    ...SSHD_TEST_SETTINGS,
    'LogLevel INFO',
  ]);
}
