import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../src/engine/errors.js';
import { GiB } from '../../../src/engine/model.js';
import { placeInstances } from '../../../src/engine/planning/index.js';
import { fleet, host, usage, vm } from './fleet.js';

const destinationOf = (result: ReturnType<typeof placeInstances>) =>
  new Map(result.placements.map((p) => [p.instance, p.to]));

describe('placing the VMs of a host being drained', () => {
  it('never fills a destination past its memory, counting what is there and what the plan adds', () => {
    const f = fleet(
      [host('src'), host('big', { memoryBytes: 100 * GiB }), host('small', { memoryBytes: 60 * GiB })],
      [
        vm('a', 'src', 48),
        vm('b', 'src', 48),
        vm('c', 'src', 48),
        vm('d', 'src', 48),
        vm('old', 'small', 10),
      ],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toHaveLength(3);
    const used = usage(f, destinationOf(result));
    expect(used.get('big')!.memoryBytes).toBe(96 * GiB);
    expect(used.get('small')!.memoryBytes).toBe(58 * GiB);
    expect(result.blockers).toEqual([
      { instance: 'd', code: 'no-capacity', reason: 'no host with 48 GiB and 4 vCPUs free' },
    ]);
  });

  it('skips a host with memory to spare but no vCPUs left', () => {
    const f = fleet(
      [host('src'), host('roomy', { vcpus: 4 }), host('busy', { memoryBytes: 64 * GiB })],
      [vm('cpu-hungry', 'src', 16, { vcpus: 8 })],
    );
    expect(placeInstances(f, ['src']).placements).toEqual([
      { instance: 'cpu-hungry', from: 'src', to: 'busy' },
    ]);
  });

  it('keeps members of an anti-affinity group on different hosts', () => {
    const f = fleet(
      [host('src'), host('d1'), host('d2'), host('d3', { memoryBytes: 128 * GiB })],
      [
        vm('db-1', 'src', 16, { antiAffinityGroup: 'db' }),
        vm('db-2', 'src', 16, { antiAffinityGroup: 'db' }),
        vm('db-0', 'd1', 16, { antiAffinityGroup: 'db' }),
      ],
    );
    const to = destinationOf(placeInstances(f, ['src']));
    expect(new Set([to.get('db-1'), to.get('db-2')])).toEqual(new Set(['d2', 'd3']));
  });

  it('reports a member of an anti-affinity group that has nowhere left to go', () => {
    const f = fleet(
      [host('src', { az: 'az1' }), host('d1', { az: 'az1' })],
      [
        vm('db-1', 'src', 16, { antiAffinityGroup: 'db' }),
        vm('db-2', 'src', 16, { antiAffinityGroup: 'db' }),
      ],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toEqual([{ instance: 'db-1', from: 'src', to: 'd1' }]);
    expect(result.blockers).toEqual([
      {
        instance: 'db-2',
        code: 'anti-affinity',
        reason: 'every host in az1 with room for it already runs a member of anti-affinity group db',
      },
    ]);
  });

  it('keeps the cpuModel of the source, whatever room other models have', () => {
    const f = fleet(
      [
        host('src', { cpuModel: 'Cascadelake' }),
        host('ice', { cpuModel: 'Icelake', memoryBytes: 1024 * GiB }),
        host('cascade', { cpuModel: 'Cascadelake', memoryBytes: 64 * GiB }),
      ],
      [vm('web', 'src', 32), vm('api', 'src', 64)],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toEqual([{ instance: 'api', from: 'src', to: 'cascade' }]);
    expect(result.blockers).toEqual([
      {
        instance: 'web',
        code: 'no-capacity',
        reason: 'no host with 32 GiB and 4 vCPUs free with cpuModel Cascadelake',
      },
    ]);
  });

  it('blocks a VM whose cpuModel no other host has, saying so', () => {
    const f = fleet(
      [host('src', { cpuModel: 'Cascadelake' }), host('ice', { cpuModel: 'Icelake' })],
      [vm('web', 'src')],
    );
    expect(placeInstances(f, ['src']).blockers).toEqual([
      {
        instance: 'web',
        code: 'cpu-model',
        reason: 'no schedulable host with cpuModel Cascadelake other than src',
      },
    ]);
  });

  it('keeps the availability zone of the source', () => {
    const f = fleet(
      [
        host('src', { az: 'az1', cpuModel: 'Cascadelake' }),
        host('far', { az: 'az2', cpuModel: 'Cascadelake' }),
        host('near', { az: 'az1', cpuModel: 'Cascadelake', memoryBytes: 48 * GiB }),
      ],
      [vm('small', 'src', 16), vm('large', 'src', 64, { vcpus: 16 })],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toEqual([{ instance: 'small', from: 'src', to: 'near' }]);
    expect(result.blockers).toEqual([
      {
        instance: 'large',
        code: 'no-capacity',
        reason: 'no host with 64 GiB and 16 vCPUs free in az1 with cpuModel Cascadelake',
      },
    ]);
  });

  it('blocks a VM whose AZ has no other host', () => {
    const f = fleet([host('src', { az: 'az1' }), host('far', { az: 'az2' })], [vm('web', 'src')]);
    expect(placeInstances(f, ['src']).blockers).toEqual([
      { instance: 'web', code: 'availability-zone', reason: 'no schedulable host in az1 other than src' },
    ]);
  });

  it('lets a VM of a host without cpuModel or AZ go to any host', () => {
    const f = fleet([host('src'), host('any', { cpuModel: 'Icelake', az: 'az9' })], [vm('web', 'src')]);
    expect(placeInstances(f, ['src']).placements).toEqual([{ instance: 'web', from: 'src', to: 'any' }]);
  });

  it('never uses a disabled host or another host being drained', () => {
    const f = fleet(
      [
        host('src-1'),
        host('src-2'),
        host('broken', { schedulable: false, disabledReason: 'bad DIMM', memoryBytes: 2048 * GiB }),
        host('ok', { memoryBytes: 64 * GiB }),
      ],
      [vm('a', 'src-1'), vm('b', 'src-2'), vm('c', 'src-2')],
    );
    const result = placeInstances(f, ['src-1', 'src-2']);
    expect(result.placements.map((p) => p.to)).toEqual(['ok', 'ok', 'ok']);
  });

  it('reports a VM that cannot be live-migrated, with its reason, and moves the others', () => {
    const f = fleet(
      [host('src'), host('dst')],
      [
        vm('gpu', 'src', 16, { migratable: false, notMigratableReason: 'has a passthrough GPU' }),
        vm('web', 'src'),
      ],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toEqual([{ instance: 'web', from: 'src', to: 'dst' }]);
    expect(result.blockers).toEqual([
      { instance: 'gpu', code: 'not-migratable', reason: 'has a passthrough GPU' },
    ]);
  });

  it('sends each VM, largest first, to the host with the most free memory, ties by name', () => {
    const f = fleet(
      [host('src'), host('d-b'), host('d-a'), host('d-c', { memoryBytes: 200 * GiB })],
      [vm('v1', 'src', 8), vm('v2', 'src', 32), vm('v3', 'src', 16), vm('v4', 'src', 8)],
    );
    const result = placeInstances(f, ['src']);
    expect(result.placements).toEqual([
      { instance: 'v2', from: 'src', to: 'd-a' },
      { instance: 'v3', from: 'src', to: 'd-b' },
      { instance: 'v1', from: 'src', to: 'd-b' },
      { instance: 'v4', from: 'src', to: 'd-b' },
    ]);
    expect(placeInstances(f, ['src'])).toEqual(result);
  });

  it('refuses a host that is not in the fleet', () => {
    expect(() => placeInstances(fleet([host('a')], []), ['nope'])).toThrow(NotFoundError);
  });
});
