import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guestDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'guest');
const sources = ['boot.S', 'guest.c', 'link.ld'];

/**
 * Builds the multiboot test guest from test/guest with gcc -m32 and returns the ELF's path.
 * The build is cached in the temp dir under a hash of the sources, so parallel test files share it.
 */
export function buildGuest(): string {
  const hash = createHash('sha256');
  for (const file of sources) hash.update(readFileSync(join(guestDir, file)));
  const dir = join(tmpdir(), `ferry-guest-${hash.digest('hex').slice(0, 16)}`);
  const elf = join(dir, 'guest.elf');
  if (existsSync(elf)) return elf;
  mkdirSync(dir, { recursive: true });
  const partial = join(dir, `guest.elf.${process.pid}`);
  execFileSync(
    'gcc',
    [
      '-m32',
      '-ffreestanding',
      '-fno-pie',
      '-no-pie',
      '-fno-stack-protector',
      '-fno-builtin',
      '-nostdlib',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      `-Wl,-T,${join(guestDir, 'link.ld')}`,
      '-Wl,--build-id=none',
      '-Wl,--no-warn-rwx-segments',
      '-o',
      partial,
      join(guestDir, 'boot.S'),
      join(guestDir, 'guest.c'),
      '-lgcc',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  renameSync(partial, elf); // atomic: a concurrent reader sees the whole file or none
  return elf;
}

export interface GuestProgress {
  passes: number;
  errors: number;
  tMs: number;
  rateKib: number;
}

export interface GuestLog {
  booted: boolean;
  filled: boolean;
  progress: GuestProgress[];
  /** CORRUPT lines: a page did not hold what the guest last wrote. */
  corrupt: string[];
}

/** Parses what the guest printed on its serial port. */
export function parseGuestLog(text: string): GuestLog {
  const log: GuestLog = { booted: false, filled: false, progress: [], corrupt: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith('ferry-guest boot')) log.booted = true;
    else if (line.startsWith('ferry-guest filled')) log.filled = true;
    else if (line.startsWith('ferry-guest CORRUPT')) log.corrupt.push(line);
    else {
      const m = /^ferry-guest progress passes=(\d+) errors=(\d+) t_ms=(\d+) ratekib=(\d+)$/.exec(line);
      if (m) log.progress.push({ passes: +m[1]!, errors: +m[2]!, tMs: +m[3]!, rateKib: +m[4]! });
    }
  }
  return log;
}

/** Reads a serial log file (missing file: nothing printed yet). */
export function readGuestLog(path: string): GuestLog {
  return parseGuestLog(existsSync(path) ? readFileSync(path, 'utf8') : '');
}

/**
 * Polls a serial log until `done` holds, or throws after `timeoutMs` with what was seen. The
 * default is generous: on a loaded 2-core machine a TCG guest may get a few % of a CPU.
 */
export async function waitForGuest(
  path: string,
  done: (log: GuestLog) => boolean,
  timeoutMs = 45_000,
): Promise<GuestLog> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readGuestLog(path);
    if (done(log)) return log;
    if (Date.now() > deadline)
      throw new Error(
        `guest at ${path} did not get there in ${timeoutMs} ms: ${JSON.stringify(log.progress.at(-1))}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The dirty rate the guest achieved, KiB/s of wall time, averaged over its progress lines from
 * index `from` to `to` (exclusive; default: all printed since). Undefined when there are none.
 */
export function achievedRateKib(log: GuestLog, from = 0, to = log.progress.length): number | undefined {
  const lines = log.progress.slice(from, to);
  if (lines.length === 0) return undefined;
  return lines.reduce((sum, p) => sum + p.rateKib, 0) / lines.length;
}

/**
 * Waits until the guest's last `reports` progress lines average at least `minKib` KiB/s: a guest
 * starved of CPU dirties less than it asks, and a test that needs it to outrun a migration
 * stream's cap must not start before it does. Throws after `timeoutMs` with the rates seen.
 */
export async function waitForRate(
  path: string,
  minKib: number,
  options: { reports?: number; timeoutMs?: number } = {},
): Promise<GuestLog> {
  const reports = options.reports ?? 4;
  const timeoutMs = options.timeoutMs ?? 45_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readGuestLog(path);
    const n = log.progress.length;
    if (n >= reports && achievedRateKib(log, n - reports)! >= minKib) return log;
    if (Date.now() > deadline)
      throw new Error(
        `guest at ${path} did not dirty ${minKib} KiB/s over ${reports} reports in ${timeoutMs} ms ` +
          `(too little CPU?): last rates ${log.progress
            .slice(-8)
            .map((p) => p.rateKib)
            .join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}
