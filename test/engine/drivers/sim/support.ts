import { VirtualClock } from '../../../../src/engine/clock.js';
import type { MigrationHandle } from '../../../../src/engine/drivers/driver.js';
import { SimDriver, type SimFault } from '../../../../src/engine/drivers/sim/index.js';
import {
  GBPS,
  GiB,
  type Host,
  type Instance,
  MiB,
  type ProgressSample,
  type Tuning,
} from '../../../../src/engine/model.js';
import { host as fleetHost, vm } from '../../../support/fleet.js';

export const FINAL = ['completed', 'failed', 'cancelled'];

export const tuning: Tuning = { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: true };

/** Hosts of 512 GiB on 10 Gb/s NICs, VMs of 4 GiB dirtying 50 MiB/s: the simulator's stories. */
export function host(name: string, overrides: Partial<Host> = {}): Host {
  return fleetHost(name, { memoryBytes: 512 * GiB, nicBytesPerS: 10 * GBPS, ...overrides });
}

export function instance(name: string, on: string, overrides: Partial<Instance> = {}): Instance {
  return vm(name, on, 4, { vcpus: 2, dirtyBytesPerS: 50 * MiB, ...overrides });
}

export interface SimSetup {
  hosts?: Host[];
  instances: Instance[];
  streamCapBytesPerS?: number;
  seed?: number;
  faults?: SimFault[];
}

/** A driver on a fresh virtual clock; three 10 Gb/s hosts unless told otherwise, 8 Gb/s streams. */
export function simulate(setup: SimSetup): { driver: SimDriver; clock: VirtualClock } {
  const clock = new VirtualClock();
  const driver = new SimDriver({
    fleet: { hosts: setup.hosts ?? [host('hv1'), host('hv2'), host('hv3')], instances: setup.instances },
    clock,
    streamCapBytesPerS: setup.streamCapBytesPerS ?? 8 * GBPS,
    seed: setup.seed ?? 0,
    faults: setup.faults,
  });
  return { driver, clock };
}

export function move(instanceName: string, from: string, to: string, id = `e1:${instanceName}`) {
  return { migrationId: id, instance: instanceName, from, to };
}

/** Samples every `everyMs` of virtual time until the migration ends or `limitMs` passes. */
export async function follow(
  driver: SimDriver,
  clock: VirtualClock,
  handle: MigrationHandle,
  options: { everyMs?: number; limitMs?: number } = {},
): Promise<ProgressSample[]> {
  const everyMs = options.everyMs ?? 1000;
  const deadline = clock.now() + (options.limitMs ?? 24 * 3_600_000);
  const samples: ProgressSample[] = [];
  for (;;) {
    const s = await driver.sample(handle);
    samples.push(s);
    if (FINAL.includes(s.status) || clock.now() >= deadline) return samples;
    await clock.sleep(everyMs);
  }
}

export function last<T>(items: readonly T[]): T {
  const item = items[items.length - 1];
  if (item === undefined) throw new Error('empty');
  return item;
}
