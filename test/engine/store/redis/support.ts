import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { FerryEvent } from '../../../../src/engine/model.js';

/** A prefix no other test uses: tests share one redis-server and never see each other's keys. */
export function freshPrefix(): string {
  return `{t-${randomUUID().slice(0, 8)}}`;
}

/** A client the way ferry opens them (waits through disconnects instead of failing commands). */
export function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  redis.on('error', () => {});
  return redis;
}

export interface Child {
  process: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  stderr(): string;
  /** Resolves with the first stdout line (past or future) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs a TypeScript entry point in its own Node process (through tsx). */
export function spawnTs(file: string, args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters])
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
  });
  return {
    process: child,
    lines,
    stderr: () => stderr,
    waitFor: (pattern, timeoutMs = 30_000) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`${file}: no line matching ${pattern} in ${timeoutMs} ms; stderr: ${stderr}`)),
          timeoutMs,
        );
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${file} exited (${code ?? signal}) before ${pattern}: ${stderr}`));
        });
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
  };
}

export const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

/**
 * No gap and no duplicate: every migration started at most once, every one ended at most once,
 * every started one ended (a pending one dropped by an abort ends without starting), and the
 * evacuation finished once, last.
 */
export function expectCompleteStream(events: FerryEvent[]): void {
  const started = ofType(events, 'migration.started').map((e) => e.migrationId);
  const ended = events.flatMap((e) =>
    e.type === 'migration.completed' || e.type === 'migration.failed' || e.type === 'migration.aborted'
      ? [e.migrationId]
      : [],
  );
  expect(new Set(started).size, 'a migration started twice').toBe(started.length);
  expect(new Set(ended).size, 'a migration ended twice').toBe(ended.length);
  for (const id of started) expect(ended, `${id} started but never ended`).toContain(id);
  expect(ofType(events, 'evacuation.finished')).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('evacuation.finished');
}

/** Polls `probe` until it returns something truthy. */
export async function until<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
