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

/** Polls a serial log until `done` holds, or throws after `timeoutMs` with what was seen. */
export async function waitForGuest(
  path: string,
  done: (log: GuestLog) => boolean,
  timeoutMs = 20_000,
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
