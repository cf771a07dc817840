import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { QmpClient } from '../../src/engine/drivers/qemu/qmp.js';
import { buildGuest } from './guest.js';

export interface GuestSpec {
  /** Region the guest dirties, MiB (guest RAM is this plus 8 MiB for the kernel). */
  mib: number;
  /** Dirty rate, KiB/s. */
  rateKib: number;
}

/**
 * QEMU arguments for one test guest: TCG, no devices but COM1 (to a file), QMP on a unix socket.
 * `incoming` starts it waiting for `migrate-incoming`; `memPath` backs RAM with a shared file.
 */
export function guestQemuArgs(options: {
  spec: GuestSpec;
  qmpSocket: string;
  serialPath: string;
  incoming?: boolean;
  memPath?: string;
  pidFile?: string;
}): string[] {
  const ramMiB = options.spec.mib + 8;
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
    `mib=${options.spec.mib} ratekib=${options.spec.rateKib} report=250`,
    '-serial',
    `file:${options.serialPath}`,
    '-qmp',
    `unix:${options.qmpSocket},server=on,wait=off`,
  ];
  if (options.memPath)
    args.push(
      '-object',
      `memory-backend-file,id=ram0,size=${ramMiB}M,mem-path=${options.memPath},share=on`,
      '-machine',
      'memory-backend=ram0',
    );
  if (options.incoming) args.push('-incoming', 'defer');
  if (options.pidFile) args.push('-pidfile', options.pidFile);
  return args;
}

export interface GuestVm {
  name: string;
  qmpSocket: string;
  serialPath: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a test guest as a child process in `dir` and waits for its QMP socket. */
export async function startGuestVm(options: {
  dir: string;
  name: string;
  spec: GuestSpec;
  incoming?: boolean;
  memPath?: string;
}): Promise<GuestVm> {
  const qmpSocket = join(options.dir, `${options.name}.qmp`);
  const serialPath = join(options.dir, `${options.name}.serial`);
  const child = spawn(
    'qemu-system-x86_64',
    guestQemuArgs({
      spec: options.spec,
      qmpSocket,
      serialPath,
      incoming: options.incoming,
      memPath: options.memPath,
    }),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const deadline = Date.now() + 10_000;
  while (!existsSync(qmpSocket)) {
    if (child.exitCode !== null) throw new Error(`qemu exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`qemu did not open ${qmpSocket}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: options.name,
    qmpSocket,
    serialPath,
    process: child,
    stop: () => stopProcess(child),
  };
}

/** Kills a child process and waits for it to exit. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Kills the process whose pid is in `pidFile` (QEMUs started with -daemonize by a driver). */
export function killPidFile(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A QMP client on a local unix socket (tests that drive QEMU without SSH). */
export function localQmp(socketPath: string): Promise<QmpClient> {
  return QmpClient.connect(connect(socketPath), { label: socketPath });
}
