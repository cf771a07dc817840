import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationHandle } from '../../../../src/engine/drivers/driver.js';
import type { QemuDriver } from '../../../../src/engine/drivers/qemu/driver.js';
import { DriverRefusedError, HostKeyMismatchError } from '../../../../src/engine/errors.js';
import { MiB, type ProgressSample, type Tuning } from '../../../../src/engine/model.js';
import { readGuestLog, waitForGuest } from '../../../support/guest.js';
import { alive, type GuestSpec, type QemuLab, startQemuLab } from '../../../support/qemu.js';

const FINAL = ['completed', 'failed', 'cancelled'];

/** Samples until the migration ends (or `stop` says so); returns every sample. */
async function follow(
  driver: QemuDriver,
  handle: MigrationHandle,
  options: { timeoutMs?: number; stop?: (s: ProgressSample) => boolean } = {},
): Promise<ProgressSample[]> {
  const samples: ProgressSample[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    const s = await driver.sample(handle);
    samples.push(s);
    if (FINAL.includes(s.status) || options.stop?.(s)) return samples;
    if (Date.now() > deadline) throw new Error(`migration still ${s.status}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const tuning = (t: Partial<Tuning> = {}): Tuning => ({
  downtimeLimitMs: 300,
  autoConverge: false,
  postcopyCapable: false,
  ...t,
});

// Dirties 48 MiB/s of a 16 MiB region against an 8 MiB/s cap: every pass re-sends everything.
const STUCK: GuestSpec = { mib: 16, rateKib: 48 * 1024 };
const CALM: GuestSpec = { mib: 32, rateKib: 4 * 1024 };

describe('qemu driver through real sshd and two real QEMUs', () => {
  let lab: QemuLab;
  beforeAll(async () => {
    lab = await startQemuLab();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  /** The guest arrived: the destination never booted, kept counting, and saw no bad page. */
  async function expectArrivedIntact(instance: string, from: string, to: string): Promise<void> {
    const before = readGuestLog(lab.serialOf(from, instance));
    const after = await waitForGuest(lab.serialOf(to, instance), (l) => l.progress.length >= 3);
    expect(after.booted).toBe(false);
    expect(after.progress.at(-1)!.passes).toBeGreaterThan(before.progress.at(-1)!.passes);
    expect([...before.corrupt, ...after.corrupt]).toEqual([]);
    expect(after.progress.every((p) => p.errors === 0)).toBe(true);
  }

  it('runs a converging pre-copy to completion and moves the instance', async () => {
    const source = await lab.startGuest('hv1', 'calm', CALM);
    const driver = lab.driver({
      fleet: lab.fleet([{ name: 'calm', host: 'hv1', spec: CALM }]),
    });
    const request = { migrationId: 'e1:calm', instance: 'calm', from: 'hv1', to: 'hv2' };
    expect(await driver.precheck(request)).toEqual({ ok: true });
    const handle = await driver.start(request, tuning({ maxBandwidthBytesPerS: 64 * MiB }));
    expect(await driver.start(request, tuning())).toEqual(handle); // idempotent by id
    const samples = await follow(driver, handle);
    const done = samples.at(-1)!;
    expect(done.status).toBe('completed');
    expect(done.transferredBytes).toBeGreaterThan(32 * MiB);
    expect(done.totalBytes).toBeGreaterThanOrEqual(40 * MiB);
    expect(done.downtimeMs).toBeGreaterThanOrEqual(0);
    await expectArrivedIntact('calm', 'hv1', 'hv2');
    expect((await driver.inventory()).instances.find((i) => i.name === 'calm')?.host).toBe('hv2');
    await new Promise((r) => setTimeout(r, 500));
    expect(source.process.exitCode !== null || source.process.signalCode !== null).toBe(true); // source copy quit
    expect(await driver.sample(handle)).toMatchObject({ status: 'completed' });

    // After a restart the source copy is gone; the destination says it is done: nothing restarts.
    await driver.close(); // a QMP monitor takes one client at a time, as after a real crash
    const restarted = lab.driver();
    const again = await restarted.start(request, tuning());
    expect(await restarted.sample(again)).toMatchObject({ status: 'completed' });
    expect(readGuestLog(lab.serialOf('hv2', 'calm')).booted).toBe(false);
  }, 60_000);

  it('cancels a non-converging migration: the guest keeps running on the source, the destination is gone', async () => {
    await lab.startGuest('hv1', 'stuck', STUCK);
    const driver = lab.driver();
    const request = { migrationId: 'e2:stuck', instance: 'stuck', from: 'hv1', to: 'hv2' };
    const handle = await driver.start(
      request,
      tuning({ maxBandwidthBytesPerS: 8 * MiB, downtimeLimitMs: 50 }),
    );
    const samples = await follow(driver, handle, { stop: (s) => s.iteration >= 3 });
    expect(samples.at(-1)!.status).toBe('active');
    expect(samples.at(-1)!.dirtyBytesPerS).toBeGreaterThan(8 * MiB);
    const destinationPid = lab.incomingPid('hv2', 'stuck')!;
    expect(alive(destinationPid)).toBe(true);

    await driver.abort(handle);
    expect(await driver.sample(handle)).toMatchObject({ status: 'cancelled' });
    const seen = readGuestLog(lab.serialOf('hv1', 'stuck')).progress.length;
    const after = await waitForGuest(lab.serialOf('hv1', 'stuck'), (l) => l.progress.length >= seen + 3);
    expect(after.corrupt).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(alive(destinationPid)).toBe(false);
  }, 60_000);

  it('finds a running migration again after a restart instead of starting another', async () => {
    await lab.startGuest('hv1', 'again', STUCK);
    const first = lab.driver();
    const request = { migrationId: 'e3:again', instance: 'again', from: 'hv1', to: 'hv3' };
    const handle = await first.start(
      request,
      tuning({ maxBandwidthBytesPerS: 8 * MiB, downtimeLimitMs: 50 }),
    );
    const before = (await follow(first, handle, { stop: (s) => s.transferredBytes > 4 * MiB })).at(-1)!;
    await first.close();
    const destinationPid = lab.incomingPid('hv3', 'again');

    const second = lab.driver();
    const again = await second.start(
      request,
      tuning({ maxBandwidthBytesPerS: 8 * MiB, downtimeLimitMs: 50 }),
    );
    expect(again.migrationId).toBe(handle.migrationId);
    expect(lab.incomingPid('hv3', 'again')).toBe(destinationPid); // no second destination
    const now = await second.sample(again);
    expect(now.status).toBe('active');
    expect(now.transferredBytes).toBeGreaterThanOrEqual(before.transferredBytes); // same stream, not restarted

    // ... and finishes it with a pause (force-complete): the guest arrives paused and is resumed.
    await second.pause(again);
    const done = (await follow(second, again)).at(-1)!;
    expect(done.status).toBe('completed');
    await expectArrivedIntact('again', 'hv1', 'hv3');
  }, 60_000);

  it('switches to post-copy and the guest arrives intact', async () => {
    await lab.startGuest('hv1', 'post', STUCK);
    const driver = lab.driver();
    const handle = await driver.start(
      { migrationId: 'e4:post', instance: 'post', from: 'hv1', to: 'hv2' },
      tuning({ maxBandwidthBytesPerS: 8 * MiB, downtimeLimitMs: 50, postcopyCapable: true }),
    );
    await follow(driver, handle, { stop: (s) => s.iteration >= 2 });
    await driver.switchToPostCopy(handle);
    // Post-copy pulls the last 16 MiB in a blink: the active post-copy phase may fall between samples.
    const samples = await follow(driver, handle);
    expect(samples.at(-1)!.status).toBe('completed');
    await expectArrivedIntact('post', 'hv1', 'hv2');
  }, 60_000);

  it('throttles the guest with auto-converge until it converges', async () => {
    await lab.startGuest('hv1', 'throttled', STUCK);
    // Steep steps keep the test short: 60 % then 80 %, 99 %.
    const driver = lab.driver({ qemu: { cpuThrottleInitial: 60, cpuThrottleIncrement: 20 } });
    const handle = await driver.start(
      { migrationId: 'e5:throttled', instance: 'throttled', from: 'hv1', to: 'hv3' },
      tuning({ maxBandwidthBytesPerS: 8 * MiB, downtimeLimitMs: 100, autoConverge: true }),
    );
    const samples = await follow(driver, handle, { timeoutMs: 60_000 });
    expect(samples.some((s) => (s.throttlePct ?? 0) >= 60)).toBe(true);
    expect(samples.at(-1)!.status).toBe('completed');
    await expectArrivedIntact('throttled', 'hv1', 'hv3');
  }, 90_000);

  it('will not enable auto-converge mid-flight on a migration started without it', async () => {
    await lab.startGuest('hv2', 'unarmed', STUCK);
    const driver = lab.driver({ qemu: { armAutoConverge: false } });
    const handle = await driver.start(
      { migrationId: 'e8:unarmed', instance: 'unarmed', from: 'hv2', to: 'hv1' },
      tuning({ maxBandwidthBytesPerS: 8 * MiB }),
    );
    await expect(driver.tune(handle, { autoConverge: true })).rejects.toBeInstanceOf(DriverRefusedError);
    await driver.abort(handle);
    expect((await driver.sample(handle)).status).toBe('cancelled');
  }, 60_000);

  it('follows the same migration across a cut SSH connection', async () => {
    await lab.startGuest('hv2', 'cut', CALM);
    const driver = lab.driver();
    const request = { migrationId: 'e6:cut', instance: 'cut', from: 'hv2', to: 'hv3' };
    const handle = await driver.start(request, tuning({ maxBandwidthBytesPerS: 8 * MiB }));
    const before = (await follow(driver, handle, { stop: (s) => s.transferredBytes > 2 * MiB })).at(-1)!;
    const destinationPid = lab.incomingPid('hv3', 'cut');
    lab.sshd.cutConnections();
    await new Promise((r) => setTimeout(r, 300));
    expect(await driver.start(request, tuning())).toEqual(handle);
    const samples = await follow(driver, handle, { timeoutMs: 40_000 });
    expect(samples[0]!.transferredBytes).toBeGreaterThanOrEqual(before.transferredBytes);
    expect(samples.at(-1)!.status).toBe('completed');
    expect(lab.incomingPid('hv3', 'cut')).toBe(destinationPid);
    await expectArrivedIntact('cut', 'hv2', 'hv3');
  }, 60_000);

  it('refuses a host whose key is not the pinned one', async () => {
    const driver = lab.driver({
      ssh: { hosts: lab.ssh.hosts.map((h) => ({ ...h, hostKey: `SHA256:${'B'.repeat(43)}` })) },
    });
    await expect(
      driver.start({ migrationId: 'e7:x', instance: 'x', from: 'hv1', to: 'hv2' }, tuning()),
    ).rejects.toBeInstanceOf(HostKeyMismatchError);
  });
});
