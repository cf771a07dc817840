import { GBPS, GiB, type Host, type Instance, MiB } from '../../src/engine/model.js';

/** Small hand-built fleets for tests. A host defaults to 64 vCPUs, 256 GiB, 25 Gb/s. */
export function host(name: string, over: Partial<Host> = {}): Host {
  return {
    name,
    vcpus: 64,
    memoryBytes: 256 * GiB,
    nicBytesPerS: 25 * GBPS,
    labels: [],
    schedulable: true,
    ...over,
  };
}

/** A VM of `gib` GiB and 4 vCPUs dirtying 10 MiB/s, unless told otherwise. */
export function vm(name: string, on: string, gib = 16, over: Partial<Instance> = {}): Instance {
  return {
    name,
    host: on,
    vcpus: 4,
    memoryBytes: gib * GiB,
    migratable: true,
    dirtyBytesPerS: 10 * MiB,
    ...over,
  };
}
