import { describe, expect, it } from 'vitest';
import { DriverRefusedError, NotFoundError } from '../../../../src/engine/errors.js';
import { GBPS, GiB } from '../../../../src/engine/model.js';
import { follow, instance, last, move, simulate, tuning } from './support.js';

describe('sim faults', () => {
  it('a link drop during pre-copy fails the migration and leaves the VM on the source; a retry works', async () => {
    const { driver, clock } = simulate({
      instances: [instance('a', 'hv1', { memoryBytes: 16 * GiB })],
      faults: [{ kind: 'link-drop', instance: 'a', during: 'precopy', afterMs: 3000 }],
    });
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    const samples = await follow(driver, clock, h);
    const end = last(samples);
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/link dropped during pre-copy; a keeps running on hv1/);
    expect(end.transferredBytes).toBeCloseTo(3 * 8 * GBPS, -3);
    expect((await driver.inventory()).instances[0]!.host).toBe('hv1');
    // The fault fired once: a second attempt (same id, as a retrying runner would use) completes.
    const retry = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    expect(last(await follow(driver, clock, retry)).status).toBe('completed');
  });

  it('a link drop during post-copy loses the guest', async () => {
    const { driver, clock } = simulate({
      instances: [instance('a', 'hv1', { dirtyBytesPerS: 2 * GiB })],
      faults: [{ kind: 'link-drop', instance: 'a', during: 'postcopy', afterMs: 200 }],
    });
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await clock.sleep(6000);
    await driver.switchToPostCopy(h);
    const end = last(await follow(driver, clock, h, { everyMs: 100 }));
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/during post-copy; a was running on hv2 without all of its memory and is lost/);
    expect((await driver.inventory()).instances).toEqual([]);
    expect(driver.snapshot().lostInstances).toHaveProperty('a');
    await expect(driver.start(move('a', 'hv1', 'hv2', 'e2:a'), tuning)).rejects.toThrow(/a was lost/);
  });

  it('a failed destination fails migrations into it, keeps their VMs on the source and refuses new ones', async () => {
    const { driver, clock } = simulate({
      instances: [
        instance('a', 'hv1', { memoryBytes: 32 * GiB }),
        instance('b', 'hv1', { memoryBytes: 32 * GiB }),
      ],
      faults: [{ kind: 'destination-failure', host: 'hv2', afterMs: 10_000 }],
    });
    const ha = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    const hb = await driver.start(move('b', 'hv1', 'hv3'), tuning);
    const end = last(await follow(driver, clock, ha));
    expect(end.status).toBe('failed');
    expect(end.error).toMatch(/destination hv2 failed; a keeps running on hv1/);
    expect((await driver.sample(hb)).status).toBe('active');
    const fleet = await driver.inventory();
    expect(fleet.instances.find((i) => i.name === 'a')?.host).toBe('hv1');
    expect(fleet.hosts.find((h) => h.name === 'hv2')).toMatchObject({ schedulable: false });
    const check = await driver.precheck(move('a', 'hv1', 'hv2', 'e2:a'));
    expect(!check.ok && check.reasons.join()).toMatch(/hv2 failed/);
    await expect(driver.start(move('a', 'hv1', 'hv2', 'e2:a'), tuning)).rejects.toBeInstanceOf(
      DriverRefusedError,
    );
    expect(await driver.runMaintenance('hv2')).toMatchObject({ ok: false });
  });

  it('a stalled stream stops moving bytes and leaves its share to the others', async () => {
    const { driver, clock } = simulate({
      instances: [
        instance('a', 'hv1', { memoryBytes: 64 * GiB }),
        instance('b', 'hv1', { memoryBytes: 64 * GiB }),
      ],
      faults: [{ kind: 'stall', instance: 'a', afterMs: 2000 }],
    });
    const ha = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    const hb = await driver.start(move('b', 'hv1', 'hv3'), tuning);
    await clock.sleep(3000);
    const first = await driver.sample(ha);
    await clock.sleep(60_000);
    const later = await driver.sample(ha);
    expect(later.status).toBe('active');
    expect(later.bandwidthBytesPerS).toBe(0);
    expect(later.transferredBytes).toBe(first.transferredBytes);
    expect(later.remainingBytes).toBeGreaterThanOrEqual(first.remainingBytes);
    expect((await driver.sample(hb)).bandwidthBytesPerS).toBeCloseTo(8 * GBPS);
    await driver.abort(ha);
    expect((await driver.sample(ha)).status).toBe('cancelled');
  });

  it('a maintenance failure makes the next maintenance of that host fail, once', async () => {
    const { driver } = simulate({
      instances: [],
      faults: [{ kind: 'maintenance-failure', host: 'hv1', output: 'firmware flash failed' }],
    });
    expect(await driver.runMaintenance('hv1')).toEqual({ ok: false, output: 'firmware flash failed' });
    expect((await driver.runMaintenance('hv1')).ok).toBe(true);
  });

  it('faults can be injected while the simulation runs, counting from then', async () => {
    const { driver, clock } = simulate({ instances: [instance('a', 'hv1', { memoryBytes: 64 * GiB })] });
    const h = await driver.start(move('a', 'hv1', 'hv2'), tuning);
    await clock.sleep(5000);
    driver.injectFault({ kind: 'link-drop', instance: 'a', during: 'precopy', afterMs: 1000 });
    await clock.sleep(999);
    expect((await driver.sample(h)).status).toBe('active');
    await clock.sleep(1);
    expect((await driver.sample(h)).status).toBe('failed');
    expect(() => driver.injectFault({ kind: 'destination-failure', host: 'nope' })).toThrow(NotFoundError);
  });
});
