import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { alive } from '../qemu.js';
import { hostHandle, type TopologyHost } from './host.js';
import {
  CAPS_CACHE_DIR,
  type HostLayout,
  hostLayout,
  type Keys,
  makeKeys,
  NETNS_PREFIX,
  SWITCH_NETNS,
  TOPOLOGY_DIR,
  UPLINK,
  writeHostFiles,
} from './layout.js';
import { must, pidsInNetns, run, terminate } from './proc.js';
import { type SshForwarders, startSshForwarders } from './ssh-forward.js';

const HOST_INIT = join(dirname(fileURLToPath(import.meta.url)), 'host-init.sh');

export type { TopologyHost } from './host.js';

/**
 * Hypervisor hosts for real libvirt migrations on one machine. Each host is a network namespace
 * joined to the others through a bridge in a namespace of its own (never the root one), with its
 * own hostname (UTS namespace), its own mount namespace (its own /run, /etc/libvirt,
 * /var/lib/libvirt, /var/log/libvirt), its own sshd, virtlogd and libvirtd with a distinct
 * host_uuid. No address is added to the root namespace; the test runner reaches the hosts
 * through `exec` (nsenter) and ferry through `connect()` (loopback forwarders into each sshd).
 */
export interface Topology {
  readonly dir: string;
  readonly hosts: readonly TopologyHost[];
  host(name: string): TopologyHost;
  /** ferry's private key (accepted by every host's sshd). */
  readonly ferryKeyPath: string;
  /** Loopback forwarders into each host's sshd, owned by the calling process. */
  connect(): Promise<SshForwarders>;
  /** Removes everything: guests, daemons, namespaces, the topology's directory. */
  stop(): Promise<void>;
}

export interface TopologyOptions {
  /** Host names (2 or 3 make sense on a 2-core machine): each becomes hostname, netns suffix, fleet name. */
  hosts: readonly string[];
  /** Initial link rate per host, bytes per second. */
  shape?: Readonly<Record<string, number>>;
  dir?: string;
  /** Limit for all hosts' daemons to come up (the first start on a machine probes QEMU: 8-16 s). */
  readyTimeoutMs?: number;
}

const descriptionSchema = z.object({
  hosts: z.array(
    z.object({
      name: z.string(),
      index: z.number().int(),
      holderPid: z.number().int().positive(),
      netnsInode: z.number().int().positive(),
    }),
  ),
  netnsInodes: z.array(z.number().int().positive()),
});
type Description = z.infer<typeof descriptionSchema>;

const DESCRIPTION = 'topology.json';

function netnsInode(name: string): number | undefined {
  try {
    return statSync(`/run/netns/${name}`).ino;
  } catch {
    return undefined;
  }
}

function ours(): string[] {
  return existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(NETNS_PREFIX)) : [];
}

/**
 * Removes a topology, the current one or one a crashed run left behind: every process in its
 * namespaces (found by namespace, so daemons that detached are found too), the namespaces (their
 * veths and the bridge go with them), and its directory. The shared capabilities cache stays.
 */
export async function stopTopology(dir = TOPOLOGY_DIR): Promise<void> {
  const inodes = new Set<number>();
  const names = ours();
  for (const name of names) {
    const ino = netnsInode(name);
    if (ino !== undefined) inodes.add(ino);
  }
  const described = readDescription(dir);
  for (const ino of described?.netnsInodes ?? []) inodes.add(ino);
  if (inodes.size > 0) await terminate(pidsInNetns(inodes));
  for (const name of names) await must('ip', ['netns', 'del', name]);
  rmSync(dir, { recursive: true, force: true });
}

function readDescription(dir: string): Description | undefined {
  try {
    return descriptionSchema.parse(JSON.parse(readFileSync(join(dir, DESCRIPTION), 'utf8')));
  } catch {
    return undefined;
  }
}

/** Starts a topology from scratch, first removing any left over from an earlier run. */
export async function startTopology(options: TopologyOptions): Promise<Topology> {
  const dir = options.dir ?? TOPOLOGY_DIR;
  if (options.hosts.length < 1 || new Set(options.hosts).size !== options.hosts.length)
    throw new Error(`topology hosts must be distinct names: ${options.hosts.join(', ')}`);
  await stopTopology(dir);
  try {
    const layouts = options.hosts.map((name, i) => hostLayout(name, i, dir));
    mkdirSync(dir, { recursive: true });
    const keys = makeKeys(dir, layouts);
    for (const h of layouts) writeHostFiles(h, layouts, keys);
    await wire(layouts);
    const holders = await Promise.all(layouts.map((h) => startHost(h, options.readyTimeoutMs ?? 120_000)));
    const description: Description = {
      hosts: layouts.map((h, index) => ({
        name: h.name,
        index,
        holderPid: holders[index]!,
        netnsInode: netnsInode(h.netns)!,
      })),
      netnsInodes: [SWITCH_NETNS, ...layouts.map((h) => h.netns)].map((n) => netnsInode(n)!),
    };
    writeFileSync(join(dir, DESCRIPTION), JSON.stringify(description));
    const topology = topologyFrom(dir, description);
    for (const [name, rate] of Object.entries(options.shape ?? {})) await topology.host(name).shape(rate);
    return topology;
  } catch (err) {
    await stopTopology(dir).catch(() => undefined);
    throw err;
  }
}

/** The topology a running process (or an earlier test file) started, if it is still whole. */
export function attachTopology(dir = TOPOLOGY_DIR): Topology | undefined {
  const description = readDescription(dir);
  if (!description) return undefined;
  for (const h of description.hosts) {
    const layout = hostLayout(h.name, h.index, dir);
    if (!alive(h.holderPid) || netnsInode(layout.netns) !== h.netnsInode) return undefined;
  }
  return topologyFrom(dir, description);
}

/** The switch namespace with its bridge, and one veth pair per host, created inside the namespaces. */
async function wire(layouts: readonly HostLayout[]): Promise<void> {
  await must('ip', ['netns', 'add', SWITCH_NETNS]);
  await must('ip', ['-n', SWITCH_NETNS, 'link', 'add', 'br0', 'type', 'bridge']);
  await must('ip', ['-n', SWITCH_NETNS, 'link', 'set', 'br0', 'up']);
  for (const h of layouts) {
    const port = `p-${h.name}`;
    await must('ip', ['netns', 'add', h.netns]);
    await must('ip', [
      'link',
      'add',
      UPLINK,
      'netns',
      h.netns,
      'type',
      'veth',
      'peer',
      'name',
      port,
      'netns',
      SWITCH_NETNS,
    ]);
    await must('ip', ['-n', SWITCH_NETNS, 'link', 'set', port, 'master', 'br0', 'up']);
    await must('ip', ['-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', UPLINK]);
    await must('ip', ['-n', h.netns, 'link', 'set', UPLINK, 'up']);
  }
}

/** Starts a host's holder (host-init.sh) and waits until its libvirtd answers and its sshd runs. */
async function startHost(h: HostLayout, timeoutMs: number): Promise<number> {
  const log = openSync(join(h.dir, 'host-init.log'), 'w');
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      h.netns,
      'unshare',
      '--uts',
      '--mount',
      '--propagation',
      'private',
      '--',
      HOST_INIT,
      h.name,
      h.dir,
      CAPS_CACHE_DIR,
    ],
    { detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  child.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone: number | null | undefined;
  void exited.then((code) => {
    gone = code;
  });
  const deadline = Date.now() + timeoutMs;
  const pidFile = join(h.dir, 'holder.pid');
  for (;;) {
    if (gone !== undefined)
      throw new Error(
        `host ${h.name} did not start (exit ${gone}): ${readFileSync(join(h.dir, 'host-init.log'), 'utf8')}`,
      );
    if (existsSync(pidFile)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      const ready =
        existsSync(`/proc/${pid}/root/run/sshd.pid`) &&
        (
          await run(
            'nsenter',
            ['-t', String(pid), '-n', '-u', '-m', '--', 'virsh', '-q', '-c', 'qemu:///system', 'version'],
            { timeoutMs: 30_000 },
          )
        ).code === 0;
      if (ready) return pid;
    }
    if (Date.now() > deadline)
      throw new Error(`host ${h.name}: libvirtd or sshd not up after ${timeoutMs} ms (see ${h.dir})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function topologyFrom(dir: string, description: Description): Topology {
  const keysDir = join(dir, 'keys');
  const keys: Pick<Keys, 'hostKey'> = { hostKey: (host) => join(keysDir, `host-${host}`) };
  const hosts = description.hosts.map((d) => hostHandle(hostLayout(d.name, d.index, dir), d.holderPid, keys));
  const byName = new Map(hosts.map((h) => [h.name, h]));
  return {
    dir,
    hosts,
    host(name) {
      const h = byName.get(name);
      if (!h) throw new Error(`no host ${name} in the topology (${[...byName.keys()].join(', ')})`);
      return h;
    },
    ferryKeyPath: join(keysDir, 'ferry'),
    connect: () =>
      startSshForwarders(
        description.hosts.map((d) => ({
          name: d.name,
          holderPid: d.holderPid,
          sshdConfig: join(dir, d.name, 'sshd_config'),
          sshdLog: join(dir, d.name, 'sshd-ferry.log'),
        })),
      ),
    stop: () => stopTopology(dir),
  };
}
