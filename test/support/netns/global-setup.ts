import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeSharedTopology } from './shared.js';

const CLEANER = join(dirname(fileURLToPath(import.meta.url)), 'cleanup-main.ts');
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * vitest exits 1 ms after SIGINT or SIGTERM (Ctrl-C, a CI timeout), before any teardown runs:
 * a detached process removes the hosts then.
 */
function cleanUpAfterExit(): void {
  spawn(process.execPath, ['--import', 'tsx', CLEANER], { detached: true, stdio: 'ignore' }).unref();
}

/**
 * vitest global setup of the heavy tests: no topology from an earlier (crashed) run survives
 * into this one, and none outlives it, whether its tests passed, failed or were interrupted.
 * Starting it is left to the first test file that needs it, so runs without libvirt tests do not
 * pay for it.
 */
export async function setup(): Promise<void> {
  await removeSharedTopology();
  for (const signal of SIGNALS) process.once(signal, cleanUpAfterExit);
}

export async function teardown(): Promise<void> {
  for (const signal of SIGNALS) process.off(signal, cleanUpAfterExit);
  await removeSharedTopology();
}
