import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationHandle } from '../../../../src/engine/drivers/driver.js';
import type { QemuDriver } from '../../../../src/engine/drivers/qemu/driver.js';
import { DriverRefusedError } from '../../../../src/engine/errors.js';
import { MiB, type ProgressSample, type Tuning } from '../../../../src/engine/model.js';
import { expectArrivedIntact, expectRunningIntact } from '../../../support/guest-checks.js';
import { type GuestSpec, type QemuLab, startQemuLab } from '../../../support/qemu.js';

/**
 * Multifd on real QEMU 10 between two hosts of the namespace topology: the driver sets the
 * `multifd` capability and `multifd-channels` on both sides (the incoming QEMU before
 * migrate-incoming), reads them back, and the guest arrives intact. Two TCG cores cannot show a
 * speed-up (each channel's thread competes with the guest's vCPU and QEMU's own); this shows it
 * works, and that QEMU refuses it together with post-copy, which is why the planner never asks
 * for both.
 */

const CALM: GuestSpec = { mib: 32, rateKib: 4 * 1024 };

const tuning = (t: Partial<Tuning> = {}): Tuning => ({
  downtimeLimitMs: 300,
  autoConverge: false,
  postcopyCapable: false,
  ...t,
});

async function follow(driver: QemuDriver, handle: MigrationHandle): Promise<ProgressSample> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const s = await driver.sample(handle);
    if (['completed', 'failed', 'cancelled'].includes(s.status)) return s;
    if (Date.now() > deadline) throw new Error(`migration still ${s.status}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('qemu driver with multifd, on hosts of the namespace topology', () => {
  let lab: QemuLab;
  beforeAll(async () => {
    lab = await startQemuLab();
  });
  afterEach(async () => {
    await lab.stopGuests();
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('migrates over 4 multifd channels, set and read back on both sides, and the guest arrives intact', async () => {
    await lab.startGuest('hv1', 'mfd', CALM);
    const driver = lab.driver({ fleet: lab.fleet([{ name: 'mfd', host: 'hv1', spec: CALM }]) });
    const request = { migrationId: 'e1:mfd', instance: 'mfd', from: 'hv1', to: 'hv2' };
    const handle = await driver.start(
      request,
      tuning({ multifdChannels: 4, maxBandwidthBytesPerS: 64 * MiB }),
    );
    const done = await follow(driver, handle);
    expect(done.status).toBe('completed');
    expect(done.transferredBytes).toBeGreaterThan(32 * MiB);
    await expectArrivedIntact(lab.serialOf('hv1', 'mfd'), lab.serialOf('hv2', 'mfd'));
    expect((await driver.inventory()).instances.find((i) => i.name === 'mfd')?.host).toBe('hv2');
  }, 180_000);

  it('is refused by QEMU together with post-copy, and the guest keeps running on its source', async () => {
    await lab.startGuest('hv1', 'both', CALM);
    const driver = lab.driver({ fleet: lab.fleet([{ name: 'both', host: 'hv1', spec: CALM }]) });
    const request = { migrationId: 'e2:both', instance: 'both', from: 'hv1', to: 'hv2' };
    const refused = await driver
      .start(request, tuning({ multifdChannels: 4, postcopyCapable: true }))
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DriverRefusedError);
    expect((refused as DriverRefusedError).userMessage).toMatch(/multifd/i);
    expect((await driver.locate({ ...request })).host).toBe('hv1');
    await expectRunningIntact(lab.serialOf('hv1', 'both'));
  }, 180_000);
});
