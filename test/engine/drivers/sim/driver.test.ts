import { describe, expect, it } from 'vitest';
import { DriverRefusedError, MigrationLostError, NotFoundError } from '../../../../src/engine/errors.js';
import { AUTO_CONVERGE, GBPS, GiB, MiB, POSTCOPY_DOWNTIME_MS } from '../../../../src/engine/model.js';
import { follow, host, instance, last, move, simulate, tuning } from './support.js';

const NIC = 10 * GBPS;
const CAP = 8 * GBPS;

describe('sim driver: bandwidth', () => {
  it('splits a source NIC fairly between two migrations leaving it', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1'), instance('b', 'hv1')] });
    const ha = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    const hb = await driver.start(move('b', 'hv1', 'hv3'), tuning);
    await clock.sleep(1000);
    const [sa, sb] = [await driver.sample(ha), await driver.sample(hb)];
    expect(sa.bandwidthBytesPerS).toBeCloseTo(NIC / 2);
    expect(sb.bandwidthBytesPerS).toBeCloseTo(NIC / 2);
    expect(sa.transferredBytes).toBeCloseTo(NIC / 2, -3);
  });

  it('caps a lone stream at the per-stream cap, and at a tuned max-bandwidth', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1'), instance('b', 'hv1')] });
    const ha = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await clock.sleep(1000);
    expect((await driver.sample(ha)).bandwidthBytesPerS).toBeCloseTo(CAP);
    const hb = await driver.start(move('b', 'hv1', 'hv3'), { ...tuning, maxBandwidthBytesPerS: 100 * MiB });
    await clock.sleep(1000);
    expect((await driver.sample(hb)).bandwidthBytesPerS).toBeCloseTo(100 * MiB);
    // The other stream takes what the capped one leaves, up to its own cap.
    expect((await driver.sample(ha)).bandwidthBytesPerS).toBeCloseTo(Math.min(CAP, NIC - 100 * MiB));
    await driver.tune(ha, { maxBandwidthBytesPerS: 200 * MiB });
    await clock.sleep(1000);
    expect((await driver.sample(ha)).bandwidthBytesPerS).toBeCloseTo(200 * MiB);
  });

  it('gives the survivor the whole share once the other migration completes', async () => {
    const { driver, clock } = simulate({
      instances: [
        instance('small', 'hv1', { memoryBytes: 1 * GiB }),
        instance('big', 'hv1', { memoryBytes: 16 * GiB }),
      ],
    });
    const hs = await driver.start(move('small', 'hv1', 'hv2'), tuning);
    const hb = await driver.start(move('big', 'hv1', 'hv3'), tuning);
    await follow(driver, clock, hs);
    expect((await driver.sample(hs)).status).toBe('completed');
    expect((await driver.sample(hb)).bandwidthBytesPerS).toBeCloseTo(CAP);
  });
});

describe('sim driver: how migrations end', () => {
  it('never completes a guest that dirties faster than its bandwidth by pre-copy', async () => {
    const { driver, clock } = simulate({
      instances: [instance('hot', 'hv1', { dirtyBytesPerS: 1.2 * GiB })],
    });
    const h = await driver.start(move('hot', 'hv1', 'hv2'), tuning);
    const samples = await follow(driver, clock, h, { limitMs: 3_600_000 });
    const end = last(samples);
    expect(end.status).toBe('active');
    expect(end.iteration).toBeGreaterThan(100);
    expect(Math.min(...samples.slice(10).map((s) => s.remainingBytes))).toBeGreaterThan(1 * GiB);
    expect(end.dirtyBytesPerS).toBeCloseTo(1.2 * GiB);
  });

  it('auto-converge raises the throttle step by step until the guest converges', async () => {
    const { driver, clock } = simulate({
      instances: [instance('hot', 'hv1', { dirtyBytesPerS: 1.2 * GiB })],
    });
    const h = await driver.start(move('hot', 'hv1', 'hv2'), { ...tuning, autoConverge: true });
    const samples = await follow(driver, clock, h, { everyMs: 500 });
    const throttles = [...new Set(samples.map((s) => s.throttlePct ?? 0))];
    expect(throttles.slice(0, 3)).toEqual([
      0,
      AUTO_CONVERGE.initialPct,
      AUTO_CONVERGE.initialPct + AUTO_CONVERGE.incrementPct,
    ]);
    expect(throttles).toEqual([...throttles].sort((a, b) => a - b));
    const end = last(samples);
    expect(end.status).toBe('completed');
    expect(end.downtimeMs).toBeLessThanOrEqual(tuning.downtimeLimitMs);
  });

  it('post-copy switches over in milliseconds and finishes on the destination', async () => {
    const { driver, clock } = simulate({
      instances: [instance('hot', 'hv1', { dirtyBytesPerS: 1.2 * GiB })],
    });
    const h = await driver.start(move('hot', 'hv1', 'hv2'), tuning);
    await clock.sleep(10_000);
    await driver.switchToPostCopy(h);
    const samples = await follow(driver, clock, h, { everyMs: 100 });
    expect(samples[0]!.status).toBe('postcopy-active');
    expect(samples[0]!.dirtyBytesPerS).toBe(0);
    expect(last(samples)).toMatchObject({ status: 'completed', downtimeMs: POSTCOPY_DOWNTIME_MS });
    const inventory = await driver.inventory();
    expect(inventory.instances.find((i) => i.name === 'hot')?.host).toBe('hv2');
  });

  it('refuses post-copy for a migration started without the capability', async () => {
    const { driver } = simulate({ instances: [instance('a', 'hv1')] });
    const h = await driver.start(move('a', 'hv1', 'hv2'), { ...tuning, postcopyCapable: false });
    await expect(driver.switchToPostCopy(h)).rejects.toBeInstanceOf(DriverRefusedError);
  });

  it('pausing copies the rest with the guest stopped: downtime = remaining / rate', async () => {
    const { driver, clock } = simulate({
      instances: [instance('hot', 'hv1', { dirtyBytesPerS: 1.2 * GiB })],
    });
    const h = await driver.start(move('hot', 'hv1', 'hv2'), tuning);
    await clock.sleep(12_345);
    const before = await driver.sample(h);
    await driver.pause(h);
    const paused = await driver.sample(h);
    expect(paused).toMatchObject({ status: 'active', paused: true, dirtyBytesPerS: 0 });
    const end = last(await follow(driver, clock, h, { everyMs: 250 }));
    expect(end.status).toBe('completed');
    const expected = (before.remainingBytes / before.bandwidthBytesPerS) * 1000;
    expect(end.downtimeMs).toBeCloseTo(expected, 3);
    expect(end.paused).toBeUndefined();
  });

  it('abort stops the stream and leaves the VM running on the source', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1', { memoryBytes: 32 * GiB })] });
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await clock.sleep(5000);
    await driver.abort(h);
    const at = await driver.sample(h);
    await clock.sleep(60_000);
    const later = await driver.sample(h);
    expect(later.status).toBe('cancelled');
    expect(later.transferredBytes).toBe(at.transferredBytes);
    expect((await driver.inventory()).instances[0]!.host).toBe('hv1');
    // The same id may start again after a cancel: a new attempt, not the old handle.
    const again = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await clock.sleep(1000);
    expect((await driver.sample(again)).status).toBe('active');
  });

  it('refuses to cancel a post-copy migration (the guest already runs on the destination)', async () => {
    const { driver } = simulate({ instances: [instance('a', 'hv1')] });
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await driver.switchToPostCopy(h);
    await expect(driver.abort(h)).rejects.toBeInstanceOf(DriverRefusedError);
  });
});

describe('sim driver: capacity, idempotency and inventory', () => {
  it('refuses a destination without room, an unknown one, a disabled one and a non-migratable VM', async () => {
    const { driver } = simulate({
      hosts: [host('hv1'), host('small', { vcpus: 4, memoryBytes: 6 * GiB }), host('hv3')],
      instances: [
        instance('a', 'hv1', { memoryBytes: 8 * GiB }),
        instance('b', 'hv1', { memoryBytes: 4 * GiB }),
        instance('c', 'hv1', { memoryBytes: 4 * GiB }),
        instance('pinned', 'hv1', { migratable: false, notMigratableReason: 'PCI passthrough' }),
      ],
    });
    const memory = await driver.precheck(move('a', 'hv1', 'small'));
    expect(memory.ok).toBe(false);
    expect(!memory.ok && memory.reasons.join()).toMatch(/free memory/);
    await expect(driver.start(move('a', 'hv1', 'small'), tuning)).rejects.toBeInstanceOf(DriverRefusedError);
    await expect(driver.start(move('a', 'hv1', 'nowhere'), tuning)).rejects.toThrow(/not a host/);
    await expect(driver.start(move('pinned', 'hv1', 'hv3'), tuning)).rejects.toThrow(/PCI passthrough/);
    await expect(driver.start(move('ghost', 'hv1', 'hv3'), tuning)).rejects.toBeInstanceOf(NotFoundError);
    // A migration the simulator never ran (or forgot in a restart) is "no such migration".
    const unknown = { ...move('b', 'hv1', 'hv3'), migrationId: 'forgotten:b' };
    await expect(driver.sample(unknown)).rejects.toBeInstanceOf(MigrationLostError);
    await expect(driver.abort(unknown)).rejects.toMatchObject({ code: 'MIGRATION_LOST', retryable: false });
    // A migration under way holds its room on the destination.
    expect(await driver.precheck(move('b', 'hv1', 'small'))).toEqual({ ok: true });
    await driver.start(move('b', 'hv1', 'small'), tuning);
    expect((await driver.precheck(move('c', 'hv1', 'small'))).ok).toBe(false);
    await driver.setSchedulable('hv3', false, 'firmware update');
    await expect(driver.start(move('c', 'hv1', 'hv3'), tuning)).rejects.toThrow(/disabled: firmware update/);
  });

  it('start is idempotent by migration id and refuses a second migration of the same VM', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1')] });
    const first = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    const again = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    expect(again).toEqual(first);
    await expect(driver.start(move('a', 'hv1', 'hv3', 'e2:a'), tuning)).rejects.toThrow(/already migrating/);
    await follow(driver, clock, first);
    // Completed: a restarted runner asking again gets the same handle, and no second migration.
    expect(await driver.start(move('a', 'hv1', 'hv2'), tuning)).toEqual(first);
    expect(driver.snapshot().migrations).toHaveLength(1);
  });

  it('inventory reflects completed moves and scheduling changes', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1'), instance('b', 'hv1')] });
    await driver.setSchedulable('hv1', false, 'evacuating');
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await follow(driver, clock, h);
    const fleet = await driver.inventory();
    expect(fleet.instances.map((i) => [i.name, i.host])).toEqual([
      ['a', 'hv2'],
      ['b', 'hv1'],
    ]);
    expect(fleet.hosts[0]).toMatchObject({ name: 'hv1', schedulable: false, disabledReason: 'evacuating' });
    await driver.setSchedulable('hv1', true, 'done');
    expect((await driver.inventory()).hosts[0]).toMatchObject({
      schedulable: true,
      disabledReason: undefined,
    });
    // Inventory hands out copies: changing them does not move a VM.
    fleet.instances[1]!.host = 'hv3';
    expect((await driver.inventory()).instances[1]!.host).toBe('hv1');
  });

  it('runs maintenance for a simulated minute', async () => {
    const { driver, clock } = simulate({ instances: [] });
    const t0 = clock.now();
    expect(await driver.runMaintenance('hv1')).toMatchObject({ ok: true });
    expect(clock.now() - t0).toBe(60_000);
    await expect(driver.runMaintenance('nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('sim driver: determinism and scale', () => {
  async function scenario(seed: number) {
    const { driver, clock } = simulate({
      seed,
      instances: Array.from({ length: 6 }, (_, i) =>
        instance(`vm${i}`, 'hv1', { memoryBytes: (2 + i) * GiB, dirtyBytesPerS: (40 + 60 * i) * MiB }),
      ),
    });
    const handles = [];
    for (let i = 0; i < 6; i++)
      handles.push(
        await driver.start(move(`vm${i}`, 'hv1', i % 2 ? 'hv2' : 'hv3'), { ...tuning, autoConverge: i > 3 }),
      );
    const trace = [];
    for (let t = 0; t < 300; t++) {
      await clock.sleep(1000);
      for (const h of handles) trace.push(await driver.sample(h));
    }
    return trace;
  }

  it('gives identical runs for the same seed and calls, and different ones for another seed', async () => {
    const a = await scenario(7);
    const b = await scenario(7);
    expect(a).toEqual(b);
    expect(await scenario(8)).not.toEqual(a);
  });

  it('drains 40 VMs four at a time over hours of virtual time, sampled every second', async () => {
    const { driver, clock } = simulate({
      hosts: [host('src'), ...Array.from({ length: 8 }, (_, i) => host(`dst${i}`))],
      instances: Array.from({ length: 40 }, (_, i) =>
        instance(`vm${i}`, 'src', {
          memoryBytes: (4 + (i % 5) * 4) * GiB,
          dirtyBytesPerS: (i % 7) * 60 * MiB,
        }),
      ),
    });
    const queue = Array.from({ length: 40 }, (_, i) => i);
    const worker = async (w: number) => {
      let done = 0;
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        const h = await driver.start(move(`vm${i}`, 'src', `dst${(i + w) % 8}`), {
          ...tuning,
          autoConverge: true,
        });
        const end = last(await follow(driver, clock, h));
        if (end.status === 'completed') done++;
      }
      return done;
    };
    const done = await Promise.all([0, 1, 2, 3].map(worker));
    expect(done.reduce((a, b) => a + b, 0)).toBe(40);
    expect((await driver.inventory()).instances.every((i) => i.host !== 'src')).toBe(true);
  });
});
