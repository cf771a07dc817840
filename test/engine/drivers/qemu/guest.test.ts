import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { incomingPort, migrationInfoSchema } from '../../../../src/engine/drivers/qemu/migrate-info.js';
import type { QmpClient } from '../../../../src/engine/drivers/qemu/qmp.js';
import { readGuestLog, waitForGuest } from '../../../support/guest.js';
import { type GuestVm, localQmp, startGuestVm } from '../../../support/qemu.js';

/** The test guest is the oracle for every QEMU test: first prove it sees what it must see. */
describe('the multiboot test guest', () => {
  let dir: string;
  const vms: GuestVm[] = [];
  const clients: QmpClient[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-guest-test-'));
  });
  // Each guest keeps a vCPU busy: stop a test's guests when it ends, so they do not starve others.
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const vm of vms.splice(0)) await vm.stop();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps running with every page intact across a live migration between two QEMUs', async () => {
    const spec = { mib: 32, rateKib: 8 * 1024 };
    const source = await startGuestVm({
      qmpSocket: join(dir, 'src.qmp'),
      serialPath: join(dir, 'src.serial'),
      spec,
    });
    vms.push(source);
    await waitForGuest(source.serialPath, (log) => log.progress.length >= 2);
    const destination = await startGuestVm({
      qmpSocket: join(dir, 'dst.qmp'),
      serialPath: join(dir, 'dst.serial'),
      spec,
      incoming: true,
    });
    vms.push(destination);

    const src = await localQmp(source.qmpSocket);
    const dst = await localQmp(destination.qmpSocket);
    clients.push(src, dst);
    await dst.execute('migrate-incoming', { uri: 'tcp:127.0.0.1:0' });
    const port = incomingPort(await dst.query('query-migrate', migrationInfoSchema));
    expect(port).toBeGreaterThan(0);
    // 48 MiB/s against 8 MiB/s of dirtying: converges in a few passes.
    await src.execute('migrate-set-parameters', { 'max-bandwidth': 48 * 1024 * 1024, 'downtime-limit': 100 });
    await src.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
    // A deadline, not a number of polls: on a loaded machine each query may take a while.
    let status: string | undefined;
    const deadline = Date.now() + 90_000;
    while (status !== 'completed' && status !== 'failed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await src.query('query-migrate', migrationInfoSchema)).status;
    }
    expect(status).toBe('completed');

    const before = readGuestLog(source.serialPath);
    const lastOnSource = before.progress.at(-1)!;
    // The destination never booted: the same guest carries on with its own counters (and checks
    // the whole region again, which a starved guest may take longer than a few lines to do).
    const after = await waitForGuest(
      destination.serialPath,
      (log) => log.progress.length >= 4 && log.progress.at(-1)!.passes > lastOnSource.passes,
    );
    expect(after.booted).toBe(false);
    expect(after.progress[0]!.tMs).toBeGreaterThanOrEqual(lastOnSource.tMs);
    expect(after.progress.at(-1)!.passes).toBeGreaterThan(lastOnSource.passes);
    expect(before.corrupt).toEqual([]);
    expect(after.corrupt).toEqual([]);
    expect(after.progress.every((p) => p.errors === 0)).toBe(true);
  }, 180_000);

  it('reports a page changed behind its back', async () => {
    const memPath = join(dir, 'ram');
    const vm = await startGuestVm({
      qmpSocket: join(dir, 'poked.qmp'),
      serialPath: join(dir, 'poked.serial'),
      spec: { mib: 16, rateKib: 1024 },
      memPath,
    });
    vms.push(vm);
    await waitForGuest(vm.serialPath, (log) => log.progress.length >= 1);
    // Guest RAM is the file; the checked region starts at 4 MiB. Flip a word in page 100.
    const fd = openSync(memPath, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, 4 * 1024 * 1024 + 100 * 4096 + 64);
    closeSync(fd);
    const log = await waitForGuest(vm.serialPath, (l) => l.corrupt.length > 0);
    expect(log.corrupt[0]).toMatch(/page=100 word=16 /);
  }, 120_000);
});
