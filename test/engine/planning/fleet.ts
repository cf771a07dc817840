import { defaultPolicy, type PolicyConfig } from '../../../src/engine/config.js';
import { type Fleet, GiB, type Host, type Instance, MiB, type Move } from '../../../src/engine/model.js';

export { host, vm } from '../../support/fleet.js';

export function fleet(hosts: Host[], instances: Instance[]): Fleet {
  return { hosts, instances };
}

export function policy(over: Partial<PolicyConfig> = {}): PolicyConfig {
  return { ...defaultPolicy, ...over };
}

/** A move as the runner hands it to admission; the prediction matters only for its strategy. */
export function move(
  instance: string,
  from: string,
  to: string,
  dirtyMiBps: number,
  over: Partial<Move> = {},
): Move {
  return {
    instance,
    from,
    to,
    memoryBytes: 16 * GiB,
    dirtyBytesPerS: dirtyMiBps * MiB,
    downtimeSloMs: 500,
    prediction: {
      converges: true,
      strategy: 'precopy',
      passes: 3,
      bytesSent: 16 * GiB,
      durationMs: 20_000,
      downtimeMs: 100,
      bandwidthBytesPerS: 1e9,
    },
    ...over,
  };
}

/** Memory and vCPUs in use on each host after applying placements to where VMs are now. */
export function usage(
  f: Fleet,
  location: Map<string, string>,
): Map<string, { memoryBytes: number; vcpus: number }> {
  const used = new Map(f.hosts.map((h) => [h.name, { memoryBytes: 0, vcpus: 0 }]));
  for (const i of f.instances) {
    const u = used.get(location.get(i.name) ?? i.host)!;
    u.memoryBytes += i.memoryBytes;
    u.vcpus += i.vcpus;
  }
  return used;
}
