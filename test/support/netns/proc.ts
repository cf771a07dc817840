import { execFile } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { alive } from '../qemu.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program (no shell) and collects its output; a non-zero exit is a result, not a throw. */
export function run(
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')}: ${err.message} ${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** Like `run`, but a non-zero exit throws with what the program printed. */
export async function must(
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<string> {
  const r = await run(file, args, options);
  if (r.code !== 0)
    throw new Error(`${file} ${args.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The inode that names a network namespace (`net:[N]` in /proc/PID/ns/net). */
function netnsOf(pid: string): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // exited, or a kernel thread
  }
}

/**
 * Every process in one of these network namespaces. This finds daemons that detached from
 * whatever started them (libvirtd, QEMU, sshd reparent to pid 1), even once the namespace's
 * name in /run/netns is gone.
 */
export function pidsInNetns(inodes: ReadonlySet<number>): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const ns = netnsOf(entry);
    if (ns !== undefined && inodes.has(ns)) pids.push(Number(entry));
  }
  return pids;
}

/** SIGTERM, then SIGKILL what is still alive after `graceMs`; returns once all are gone (or reaped late). */
export async function terminate(pids: readonly number[], graceMs = 3000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids)
      try {
        process.kill(pid, sig);
      } catch {
        // gone already
      }
  };
  // Zombies count as gone: pid 1 on this kind of machine reaps late (see alive()).
  const waitGone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return !pids.some(alive);
  };
  signal('SIGTERM');
  if (await waitGone(graceMs)) return;
  signal('SIGKILL');
  if (!(await waitGone(5000))) throw new Error(`processes would not die: ${pids.filter(alive).join(', ')}`);
}
