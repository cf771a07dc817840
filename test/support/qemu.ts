import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/engine/clock.js';
import { type QemuConfig, qemuConfigSchema } from '../../src/engine/drivers/qemu/config.js';
import { QemuDriver } from '../../src/engine/drivers/qemu/driver.js';
import { QmpClient } from '../../src/engine/drivers/qemu/qmp.js';
import { type Fleet, MiB } from '../../src/engine/model.js';
import { type SshConfig, sshConfigSchema } from '../../src/engine/ssh/config.js';
import { SshPool } from '../../src/engine/ssh/pool.js';
import { buildGuest, waitForGuest } from './guest.js';
import { SHARED_HOSTS, sharedTopology } from './netns/shared.js';
import type { SshForwarders } from './netns/ssh-forward.js';
import type { Topology } from './netns/topology.js';

export interface GuestSpec {
  /** Region the guest dirties, MiB (guest RAM is this plus 8 MiB for the kernel). */
  mib: number;
  /** Dirty rate, KiB/s. */
  rateKib: number;
}

/** The guest's RAM: its region plus 8 MiB for the kernel. */
export function guestRamMiB(spec: GuestSpec): number {
  return spec.mib + 8;
}

/** The guest kernel's command line: what it dirties, how fast, and how often it reports. */
export function guestCommandLine(spec: GuestSpec): string {
  return `mib=${spec.mib} ratekib=${spec.rateKib} report=250`;
}

/** QEMU arguments for the test guest's machine: TCG, no devices, the multiboot kernel. */
export function guestMachineArgs(spec: GuestSpec, memPath?: string): string[] {
  const ramMiB = guestRamMiB(spec);
  const args = [
    '-machine',
    'pc,accel=tcg',
    '-m',
    `${ramMiB}M`,
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    buildGuest(),
    '-append',
    guestCommandLine(spec),
  ];
  if (memPath)
    args.push(
      '-object',
      `memory-backend-file,id=ram0,size=${ramMiB}M,mem-path=${memPath},share=on`,
      '-machine',
      'memory-backend=ram0',
    );
  return args;
}

export interface GuestVm {
  qmpSocket: string;
  serialPath: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a test guest as a child process and waits for its QMP socket; with `netnsOf` (a topology
 * host's holder pid) the guest runs in that host's namespaces (nsenter execs QEMU, so the child is
 * QEMU itself). Paths under /tmp are the same inside a host and out.
 */
export async function startGuestVm(options: {
  qmpSocket: string;
  serialPath: string;
  spec: GuestSpec;
  incoming?: boolean;
  memPath?: string;
  netnsOf?: number;
}): Promise<GuestVm> {
  const { qmpSocket, serialPath } = options;
  const args = [
    ...guestMachineArgs(options.spec, options.memPath),
    '-serial',
    `file:${serialPath}`,
    '-qmp',
    `unix:${qmpSocket},server=on,wait=off`,
    ...(options.incoming ? ['-incoming', 'defer'] : []),
  ];
  const [command, ...argv] = [
    ...(options.netnsOf ? ['nsenter', '-t', String(options.netnsOf), '-n', '-u', '-m', '--'] : []),
    'qemu-system-x86_64',
    ...args,
  ] as [string, ...string[]];
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  // Generous: QEMU may take seconds to start on a loaded 2-core machine.
  const deadline = Date.now() + 30_000;
  while (!existsSync(qmpSocket)) {
    if (child.exitCode !== null) throw new Error(`qemu exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`qemu did not open ${qmpSocket}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { qmpSocket, serialPath, process: child, stop: () => stopProcess(child) };
}

/** Kills a child process and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * A QMP client on a local unix socket (tests that look at QEMU without SSH). QEMU binds the
 * socket before it listens: a refused connection in between is tried again, for a while.
 */
export async function localQmp(socketPath: string, timeoutMs = 10_000): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await QmpClient.connect(connect(socketPath), { label: socketPath });
    } catch (err) {
      if (Date.now() > deadline || !String(err).includes('ECONNREFUSED')) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Whether a process id is alive (a daemonized QEMU that exited may linger as an unreaped zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A hypervisor lab on the namespace topology (test/support/netns): hosts hv1..hv3, each with its
 * own network namespace and sshd, guests started per test inside their host, and the qemu
 * driver's config. ferry reaches each host's sshd through a loopback forwarder, while migration
 * traffic goes host to host across the topology's veths and bridge, through each host's shaped
 * uplink. The destination QEMU is started by `incoming.sh` over SSH, like an operator's own
 * script would.
 */
export interface QemuLab {
  topology: Topology;
  dir: string;
  ssh: SshConfig;
  qemu: QemuConfig;
  socketOf(host: string, instance: string): string;
  serialOf(host: string, instance: string): string;
  /** Starts `instance` running on `host` (the guest has booted and filled its pages on return). */
  startGuest(host: string, instance: string, spec: GuestSpec): Promise<GuestVm>;
  fleet(instances: { name: string; host: string; spec: GuestSpec }[]): Fleet;
  driver(overrides?: { ssh?: Partial<SshConfig>; qemu?: Partial<QemuConfig>; fleet?: Fleet }): QemuDriver;
  /** The pid of the QEMU the driver started for `instance` on `host`. */
  incomingPid(host: string, instance: string): number | undefined;
  /** Drops every open SSH connection of ferry's (as a cut of its control network would); returns how many. */
  cutConnections(): number;
  /**
   * Closes the drivers made so far and kills every guest QEMU, sources and destinations. Each
   * guest keeps a vCPU busy, so guests left over from earlier tests would starve the next test's
   * on a 2-core machine: call it after each test. The lab stays up for the next.
   */
  stopGuests(): Promise<void>;
  stop(): Promise<void>;
}

export const LAB_HOSTS: readonly string[] = SHARED_HOSTS;

/**
 * Every host's uplink rate in the lab: well under what a veth carries here, so the link, not the
 * CPU, sets the pace of the lab's migrations (the tests' guests converge at it within seconds).
 */
export const LAB_LINK_BYTES_PER_S = 96 * MiB;

export async function startQemuLab(): Promise<QemuLab> {
  const topology = await sharedTopology();
  for (const host of topology.hosts) await host.shape(LAB_LINK_BYTES_PER_S);
  const forwarders: SshForwarders = await topology.connect();
  // Under /tmp, which every host shares with the runner (their /run is their own).
  const dir = mkdtempSync(join(tmpdir(), 'ferry-qemu-lab-'));
  const script = join(dir, 'incoming.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      '# Starts the incoming QEMU for an instance with the same machine as its source.',
      'set -eu',
      'instance=$1 host=$2 qmp=$3',
      `dir=${dir}`,
      'set --',
      'while IFS= read -r arg; do set -- "$@" "$arg"; done < "$dir/$instance.args"',
      'exec qemu-system-x86_64 "$@" -qmp "unix:$qmp,server=on,wait=off" -serial "file:$dir/$host-$instance.serial" \\',
      '  -incoming defer -daemonize -pidfile "$dir/$host-$instance.pid"',
      '',
    ].join('\n'),
  );
  const vms: GuestVm[] = [];
  const drivers: QemuDriver[] = [];
  const socketOf = (host: string, instance: string) => join(dir, `${host}-${instance}.qmp`);
  const serialOf = (host: string, instance: string) => join(dir, `${host}-${instance}.serial`);
  // Limits sized for a loaded 2-core machine (sshd and QEMU may wait seconds for a CPU); no test
  // relies on one of them firing.
  const ssh = sshConfigSchema.parse({
    privateKeyPath: topology.ferryKeyPath,
    backoffMs: 100,
    connectTimeoutS: 30,
    hosts: forwarders.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      port: h.port,
      hostKey: topology.host(h.name).hostKeyFingerprint(),
    })),
  });
  // The address a source QEMU reaches a destination at is the host's own in the topology, not
  // the loopback forwarder ferry's SSH uses: as in production, the two networks differ.
  const migrationAddresses = Object.fromEntries(topology.hosts.map((h) => [h.name, h.address]));
  const qemu = qemuConfigSchema.parse({
    qmpSocket: join(dir, '{host}-{instance}.qmp'),
    incomingCommand: `sh ${script} {instance} {host} {qmpSocket}`,
    incomingTimeoutS: 60,
    qmpTimeoutS: 30,
    migrationAddresses,
  });
  const stopGuests = async () => {
    for (const d of drivers.splice(0)) await d.close().catch(() => undefined);
    for (const vm of vms.splice(0)) await vm.stop();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.pid'))) {
      const pid = Number(readFileSync(join(dir, f), 'utf8').trim());
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(join(dir, f), { force: true }); // its pid may be reused later
    }
  };
  return {
    topology,
    dir,
    ssh,
    qemu,
    socketOf,
    serialOf,
    async startGuest(host, instance, spec) {
      writeFileSync(join(dir, `${instance}.args`), `${guestMachineArgs(spec).join('\n')}\n`);
      const vm = await startGuestVm({
        qmpSocket: socketOf(host, instance),
        serialPath: serialOf(host, instance),
        spec,
        netnsOf: topology.host(host).holderPid,
      });
      vms.push(vm);
      await waitForGuest(vm.serialPath, (log) => log.progress.length > 0, 45_000);
      return vm;
    },
    fleet(instances) {
      return {
        hosts: LAB_HOSTS.map((name) => ({
          name,
          vcpus: 8,
          memoryBytes: 4096 * MiB,
          nicBytesPerS: 125_000_000,
          labels: [],
          schedulable: true,
        })),
        instances: instances.map((i) => ({
          name: i.name,
          host: i.host,
          vcpus: 1,
          memoryBytes: (i.spec.mib + 8) * MiB,
          migratable: true,
          dirtyBytesPerS: i.spec.rateKib * 1024,
        })),
      };
    },
    driver(overrides = {}) {
      const sshConfig = { ...ssh, ...overrides.ssh };
      const driver = new QemuDriver({
        fleet: overrides.fleet ?? { hosts: [], instances: [] },
        ssh: SshPool.fromConfig(sshConfig),
        config: { ...qemu, ...overrides.qemu },
        clock: systemClock,
        migrationAddress: (host) => migrationAddresses[host] ?? host,
      });
      drivers.push(driver);
      return driver;
    },
    incomingPid(host, instance) {
      const file = join(dir, `${host}-${instance}.pid`);
      return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
    },
    cutConnections: () => LAB_HOSTS.reduce((n, host) => n + forwarders.cut(host), 0),
    stopGuests,
    async stop() {
      await stopGuests();
      await forwarders.close();
      for (const host of topology.hosts) await host.shape(undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
