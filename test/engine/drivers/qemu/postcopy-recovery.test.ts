import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationHandle } from '../../../../src/engine/drivers/driver.js';
import type { QemuDriver } from '../../../../src/engine/drivers/qemu/driver.js';
import { MiB, type ProgressSample } from '../../../../src/engine/model.js';
import { expectArrivedIntact } from '../../../support/guest-checks.js';
import { LAB_LINK_BYTES_PER_S, type QemuLab, startQemuLab } from '../../../support/qemu.js';

/**
 * A post-copy whose link breaks, recovered with real QEMU 10 between two hosts of the namespace
 * topology: the guest already runs on hv2 and pulls its pages from hv1 when hv1's link drops
 * everything (nftables). Nothing notices (TCP keeps retrying for many minutes): the bytes stop
 * moving. `recoverPostcopy` pauses both sides (migrate-pause closes the dead channel: QEMU
 * then reports the post-copy "paused by the user"), opens a new channel on the destination
 * (migrate-recover, a new port) and resumes from the source (migrate with resume), which
 * connects once the link is back; the migration completes (the old channel is closed, so only
 * the new one can have carried it) and the guest, checked page by page, is intact.
 */
const RECOVERING = { mib: 48, rateKib: 2 * 1024 };
/** Slow enough that the post-copy is still pulling pages when the link breaks. */
const SLOW_LINK = 1 * MiB;

async function sampleUntil(
  driver: QemuDriver,
  handle: MigrationHandle,
  what: string,
  done: (s: ProgressSample, all: ProgressSample[]) => boolean,
  timeoutMs = 45_000,
): Promise<ProgressSample[]> {
  const samples: ProgressSample[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await driver.sample(handle);
    samples.push(s);
    if (done(s, samples)) return samples;
    if (s.status === 'failed' || s.status === 'cancelled')
      throw new Error(`${what}: the migration ended ${s.status}: ${s.error ?? ''}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: still ${s.status} (${s.error ?? 'no note'}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('qemu post-copy recovery after the link breaks', () => {
  let lab: QemuLab;
  beforeAll(async () => {
    lab = await startQemuLab();
  });
  afterAll(async () => {
    const hv1 = lab?.topology.host('hv1');
    await hv1?.outage(false);
    await hv1?.shape(LAB_LINK_BYTES_PER_S);
    await lab?.stop();
  });

  it('pauses the stuck post-copy, resumes it over a new channel once the link is back; the guest arrives intact', async () => {
    const hv1 = lab.topology.host('hv1');
    await hv1.shape(SLOW_LINK);
    await lab.startGuest('hv1', 'rec', RECOVERING);
    const driver = lab.driver();
    expect(typeof driver.recoverPostcopy).toBe('function');
    const handle = await driver.start(
      { migrationId: 'e9:rec', instance: 'rec', from: 'hv1', to: 'hv2' },
      { downtimeLimitMs: 50, autoConverge: false, postcopyCapable: true },
    );
    await sampleUntil(
      driver,
      handle,
      'pre-copy under way',
      (s) => s.status === 'active' && s.transferredBytes > 0,
    );
    await driver.switchToPostCopy(handle);
    const before = await sampleUntil(
      driver,
      handle,
      'post-copy pulling pages',
      (s, all) =>
        s.status === 'postcopy-active' && s.transferredBytes > (all[0]?.transferredBytes ?? 0) + MiB,
    );
    expect(before.at(-1)!.remainingBytes).toBeGreaterThan(8 * MiB);

    // The link drops everything: the post-copy stalls, and neither QEMU notices.
    await hv1.outage(true);
    let last = -1;
    let sameSince = Date.now();
    const stalled = await sampleUntil(driver, handle, 'the post-copy stalled', (s) => {
      if (s.transferredBytes !== last) {
        last = s.transferredBytes;
        sameSince = Date.now();
      }
      return s.status === 'postcopy-active' && Date.now() - sameSince > 3000;
    });
    const stuckAt = stalled.at(-1)!.transferredBytes;
    expect(stalled.at(-1)!.remainingBytes).toBeGreaterThan(0);
    expect(stalled.at(-1)!.error).toBeUndefined();

    // Recovery while the link is still down: migrate-pause closes the dead channel on both sides
    // (QEMU says so), and the resumed one waits to connect until the link carries packets.
    await driver.recoverPostcopy!(handle);
    const waiting = await sampleUntil(driver, handle, 'the post-copy paused for recovery', (s) =>
      /paused by the user/i.test(s.error ?? ''),
    );
    expect(waiting.at(-1)!.transferredBytes).toBe(stuckAt);
    await hv1.outage(false);
    await hv1.shape(LAB_LINK_BYTES_PER_S);
    const after = await sampleUntil(
      driver,
      handle,
      'the recovered post-copy completes',
      (s) => s.status === 'completed',
    );
    expect(after.at(-1)!.transferredBytes).toBeGreaterThan(stuckAt);
    await expectArrivedIntact(lab.serialOf('hv1', 'rec'), lab.serialOf('hv2', 'rec'));
  }, 240_000);
});
