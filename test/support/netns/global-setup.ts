import { removeSharedTopology } from './shared.js';

/**
 * vitest global setup of the heavy tests: no topology from an earlier (crashed) run survives
 * into this one, and none outlives it, whether its tests passed or failed. Starting it is left
 * to the first test file that needs it, so runs without libvirt tests do not pay for it.
 */
export async function setup(): Promise<void> {
  await removeSharedTopology();
}

export async function teardown(): Promise<void> {
  await removeSharedTopology();
}
