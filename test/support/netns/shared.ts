import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive } from '../qemu.js';
import { TOPOLOGY_DIR } from './layout.js';
import { attachTopology, startTopology, stopTopology, type Topology } from './topology.js';

/** The hosts of the topology the test files share (the third one is spare room for a plan). */
export const SHARED_HOSTS = ['hv1', 'hv2', 'hv3'] as const;

const LOCK = `${TOPOLOGY_DIR}.lock`;

/** Runs `fn` holding a machine-wide lock (a directory); a lock whose owner died is taken over. */
async function withLock<T>(fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      break;
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        // being written or removed: look again
      }
      if (owner > 0 && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${LOCK} held by ${owner} for ${timeoutMs} ms`);
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * The topology every test file of a run shares: the first file that needs it starts it (its
 * processes outlive that file's worker), later files attach to it. The heavy tests' global
 * setup removes a stale one before the run and this one after it (see global-setup.ts).
 */
export function sharedTopology(): Promise<Topology> {
  return withLock(async () => attachTopology() ?? (await startTopology({ hosts: SHARED_HOSTS })));
}

/** Removes the shared topology (and any a crashed run left behind). */
export function removeSharedTopology(): Promise<void> {
  return withLock(() => stopTopology());
}
