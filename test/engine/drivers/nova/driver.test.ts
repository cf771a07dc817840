import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import type { MigrationRequest } from '../../../../src/engine/drivers/driver.js';
import { NovaDriver } from '../../../../src/engine/drivers/nova/driver.js';
import {
  ConflictError,
  DriverRefusedError,
  DriverReplyError,
  DriverUnreachableError,
  type FerryError,
  MigrationLostError,
} from '../../../../src/engine/errors.js';
import { whereIs } from '../../../../src/engine/evacuation/reconcile.js';
import { GBPS, MiB, type Tuning } from '../../../../src/engine/model.js';
import { NovaStub, type NovaStubOptions, novaTestConfig, serversOn } from '../../../support/nova-stub.js';

const tuning: Tuning = { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: false };
const hosts = [
  { name: 'cmp-1', az: 'az-a', cpuModel: 'Icelake-Server', vcpus: 96, memoryMb: 512 * 1024 },
  { name: 'cmp-2', az: 'az-a' },
  { name: 'cmp-3', az: 'az-b', disabled: true, disabledReason: 'broken PSU' },
];

let stub: NovaStub | undefined;
const drivers: NovaDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
  await stub?.close();
  stub = undefined;
});

async function setup(options: Partial<NovaStubOptions> = {}, config: Record<string, unknown> = {}) {
  stub = await NovaStub.start({
    hosts,
    servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 2048, dirtyBytesPerS: 64 * MiB }],
    bandwidthBytesPerS: 256 * MiB,
    ...options,
  });
  const driver = newDriver(config);
  return { stub, driver };
}

function newDriver(config: Record<string, unknown> = {}): NovaDriver {
  // The driver reads the stub's time, so rates estimated between two samples follow advance().
  const current = stub!;
  const clock = { now: () => current.now(), sleep: systemClock.sleep };
  const driver = new NovaDriver({ config: novaTestConfig(stub!, config), clock, pollMs: 20 });
  drivers.push(driver);
  return driver;
}

const move = (instance = 'vm-1', to = 'cmp-2'): MigrationRequest => ({
  migrationId: `evac-1:${instance}`,
  instance,
  from: 'cmp-1',
  to,
});

describe('nova driver: inventory', () => {
  it('maps hypervisors, servers and anti-affinity groups onto ferry hosts and instances', async () => {
    const { driver } = await setup({
      groups: [
        { name: 'db', policy: 'anti-affinity' },
        { name: 'web', policy: 'affinity' },
      ],
      servers: [
        { name: 'db-1', host: 'cmp-1', group: 'db', vcpus: 8, ramMb: 16384 },
        { name: 'db-2', host: 'cmp-2', group: 'db' },
        { name: 'web-1', host: 'cmp-1', group: 'web' },
        { name: 'stopped', host: 'cmp-1', status: 'SHUTOFF' },
        { name: 'resizing', host: 'cmp-1', taskState: 'resize_prep' },
        { name: 'twin', host: 'cmp-1', id: '11111111-1111-4111-8111-111111111111' },
        { name: 'twin', host: 'cmp-2', id: '22222222-2222-4222-8222-222222222222' },
      ],
      pageSize: 3, // every listing (hypervisors, servers) comes in pages of three
    });
    const fleet = await driver.inventory();
    expect(stub!.count('GET', /^\/servers\/detail\?.*marker=/)).toBe(2);
    expect(stub!.count('GET', /^\/os-hypervisors\/detail\?.*marker=/)).toBe(1);
    expect([...fleet.hosts].sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      {
        name: 'cmp-1',
        vcpus: 96,
        memoryBytes: 512 * 1024 * MiB,
        nicBytesPerS: 10 * GBPS,
        cpuModel: 'Icelake-Server',
        az: 'az-a',
        labels: [],
        schedulable: true,
        disabledReason: undefined,
      },
      expect.objectContaining({ name: 'cmp-2', az: 'az-a', schedulable: true }),
      expect.objectContaining({
        name: 'cmp-3',
        az: 'az-b',
        schedulable: false,
        disabledReason: 'broken PSU',
      }),
    ]);
    const byName = new Map(fleet.instances.map((i) => [i.name, i]));
    expect(fleet.instances).toHaveLength(7);
    expect(byName.get('db-1')).toEqual({
      name: 'db-1',
      host: 'cmp-1',
      vcpus: 8,
      memoryBytes: 16384 * MiB,
      antiAffinityGroup: 'db',
      migratable: true,
      notMigratableReason: undefined,
      dirtyBytesPerS: 10 * MiB,
    });
    expect(byName.get('db-2')?.antiAffinityGroup).toBe('db');
    expect(byName.get('web-1')?.antiAffinityGroup).toBeUndefined(); // affinity is not anti-affinity
    expect(byName.get('stopped')).toMatchObject({
      migratable: false,
      notMigratableReason: expect.stringMatching(/SHUTOFF/),
    });
    expect(byName.get('resizing')?.notMigratableReason).toMatch(/task_state resize_prep/);
    // Two servers share a name: each is named by its id.
    expect(byName.get('11111111-1111-4111-8111-111111111111')?.host).toBe('cmp-1');
    expect(byName.get('22222222-2222-4222-8222-222222222222')?.host).toBe('cmp-2');
  });

  it('drains ten servers from one host through the driver, on accelerated stub time', async () => {
    const { stub, driver } = await setup({ servers: serversOn('cmp-1', 10, { ramMb: 1024 }), speedUp: 50 });
    const fleet = await driver.inventory();
    const leaving = fleet.instances.filter((i) => i.host === 'cmp-1' && i.migratable);
    expect(leaving).toHaveLength(10);
    await driver.setSchedulable('cmp-1', false, 'ferry: drain test');
    const handles = await Promise.all(leaving.map((i) => driver.start(move(i.name), tuning)));
    const pending = new Set(handles);
    for (let round = 0; pending.size > 0 && round < 2000; round++) {
      for (const h of [...pending]) if ((await driver.sample(h)).status === 'completed') pending.delete(h);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(pending.size).toBe(0);
    const after = await driver.inventory();
    expect(after.instances.every((i) => i.host === 'cmp-2')).toBe(true);
    expect(after.hosts.find((h) => h.name === 'cmp-1')).toMatchObject({ schedulable: false });
    expect(stub.count('POST', /\/action$/, 'os-migrateLive')).toBe(10);
  });
});

describe('nova driver: inventory numbers within the config’s physical limits', () => {
  // Nova's numbers never pass through the config's validation; the planner would size plans
  // with them (ram 1e12 MiB is past 2^53 bytes: sizes that never add up, plans that never end).
  it('refuses a flavor past the memory limit, naming the field and the limit', async () => {
    const { driver } = await setup({ servers: [{ name: 'vast', host: 'cmp-1', ramMb: 1e12 }] });
    const refused = await driver.inventory().then(
      () => undefined,
      (err: FerryError) => err,
    );
    expect(refused).toBeInstanceOf(DriverReplyError);
    expect(refused!.message).toMatch(
      /servers\[0\]\.flavor\.ram: at most 67108864 MiB \(64 TiB, more than the largest server has\)/,
    );
  });

  it('refuses a hypervisor past the vCPU limit (2.80: its own counts)', async () => {
    const { driver } = await setup({ hosts: [{ name: 'cmp-1', vcpus: 1e9 }, { name: 'cmp-2' }] });
    await expect(driver.inventory()).rejects.toThrow(
      /os-hypervisors\/detail answered an unexpected shape: hypervisors\[\d+\]\.vcpus: at most 16384 vCPUs \(more threads than the largest server has\)/,
    );
  });

  it('refuses Placement capacity past the limit (2.88+: total × allocation_ratio)', async () => {
    const { driver } = await setup(
      { hosts: [{ name: 'cmp-1', ramAllocationRatio: 1e300 }, { name: 'cmp-2' }] },
      { microversion: '2.88' },
    );
    await expect(driver.inventory()).rejects.toThrow(
      /Placement inventories\.MEMORY_MB of compute node cmp-1\S* \(\S+\): \(total - reserved\) × allocation_ratio is .*, expected at most 67108864 MiB/,
    );
  });
});

describe('nova driver: scheduling', () => {
  it('disables a compute service with the reason, visible in Nova and in the inventory, then enables it', async () => {
    const { stub, driver } = await setup();
    await driver.setSchedulable('cmp-1', false, 'ferry: evacuation evac-1 by U123');
    expect(stub.service('cmp-1')).toEqual({
      status: 'disabled',
      disabledReason: 'ferry: evacuation evac-1 by U123',
    });
    const host = (await driver.inventory()).hosts.find((h) => h.name === 'cmp-1');
    expect(host).toMatchObject({ schedulable: false, disabledReason: 'ferry: evacuation evac-1 by U123' });
    await driver.setSchedulable('cmp-1', true, 'drained');
    expect(stub.service('cmp-1')).toEqual({ status: 'enabled', disabledReason: null });
    await expect(driver.setSchedulable('cmp-9', false, 'x')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('prechecks the source, the server state and the destination service', async () => {
    const { driver } = await setup({
      servers: [
        { name: 'vm-1', host: 'cmp-1' },
        { name: 'off', host: 'cmp-1', status: 'SHUTOFF' },
      ],
    });
    expect(await driver.precheck(move())).toEqual({ ok: true });
    const disabled = await driver.precheck(move('vm-1', 'cmp-3'));
    expect(disabled).toEqual({ ok: false, reasons: ['cmp-3 is disabled in Nova (broken PSU)'] });
    const off = await driver.precheck({ ...move('off', 'cmp-1'), from: 'cmp-2' });
    expect(off.ok).toBe(false);
    expect(!off.ok && off.reasons).toEqual([
      'off is on cmp-1, not cmp-2',
      'off: Nova status SHUTOFF: only ACTIVE or PAUSED servers can be live-migrated',
    ]);
    const missing = await driver.precheck(move('nope'));
    expect(!missing.ok && missing.reasons).toEqual(['Nova has no server named nope']);
  });
});

describe('nova driver: live migration', () => {
  it('starts once: a second start, even by a restarted driver, finds the same migration', async () => {
    // Setup long enough that the migration is still 'accepted' after three starts on a loaded
    // machine (the default 400 ms moves it to 'queued' after 100 ms of wall time).
    const { stub, driver } = await setup({ setupMs: 60_000 });
    const handle = await driver.start(move(), tuning);
    const again = await driver.start(move(), tuning);
    const restarted = await newDriver().start(move(), tuning);
    expect(again.ref).toBe(handle.ref);
    expect(restarted.ref).toBe(handle.ref);
    expect(JSON.parse(handle.ref!)).toEqual({ serverId: stub.server('vm-1').id, migrationId: 1 });
    expect(stub.count('POST', /^\/servers\/[^/]+\/action$/, 'os-migrateLive')).toBe(1);
    expect(stub.migrationsOf('vm-1').map((m) => m.status)).toEqual(['accepted']);
    const call = stub.calls.find((c) => c.action === 'os-migrateLive');
    expect(call?.body).toEqual({ 'os-migrateLive': { host: 'cmp-2', block_migration: 'auto' } });
    expect(stub.server('vm-1')).toMatchObject({ status: 'MIGRATING', taskState: 'migrating' });
  });

  it('samples progress until the server has moved, then reports completed', async () => {
    const { stub, driver } = await setup();
    const handle = await driver.start(move(), tuning);
    stub.advance(1000); // past setup; 0.6 s into pass 0 (2 GiB at 256 MiB/s)
    const first = await driver.sample(handle);
    stub.advance(2000);
    const second = await driver.sample(handle);
    expect(first).toMatchObject({ status: 'active', totalBytes: 2048 * MiB, iteration: 1 });
    expect(second.transferredBytes).toBeGreaterThan(first.transferredBytes);
    expect(second.remainingBytes).toBeLessThan(first.remainingBytes);
    expect(second.bandwidthBytesPerS).toBeGreaterThan(0);
    stub.advance(6000); // pass 0 done after 8 s: the 512 MiB dirtied at 64 MiB/s make pass 1
    const third = await driver.sample(handle);
    expect(third.iteration).toBe(2);
    expect(third.remainingBytes).toBeLessThan(512 * MiB);
    expect(third.dirtyBytesPerS).toBeGreaterThan(0);
    expect(stub.server('vm-1').host).toBe('cmp-1');
    stub.advance(60_000);
    const done = await driver.sample(handle);
    expect(done).toMatchObject({ status: 'completed', remainingBytes: 0 });
    expect(done.transferredBytes).toBeGreaterThanOrEqual(third.transferredBytes);
    expect(stub.server('vm-1')).toMatchObject({ host: 'cmp-2', status: 'ACTIVE', taskState: null });
    // A restarted driver asked to start the same move finds it completed rather than moving it back.
    const restarted = newDriver();
    const found = await restarted.start(move(), tuning);
    expect(found.ref).toBe(handle.ref);
    expect((await restarted.sample(found)).status).toBe('completed');
    expect(stub.count('POST', /\/action$/, 'os-migrateLive')).toBe(1);
  });

  it('lets Nova pick the destination when scheduler is nova', async () => {
    const { stub, driver } = await setup({}, { scheduler: 'nova' });
    const handle = await driver.start(move('vm-1', 'anywhere'), tuning);
    const call = stub.calls.find((c) => c.action === 'os-migrateLive');
    expect(call?.body).toEqual({ 'os-migrateLive': { host: null, block_migration: 'auto' } });
    expect(handle.to).toBe('cmp-2'); // cmp-3 is disabled
  });

  it('force_complete without live_migration_permit_post_copy pauses the guest: the pass in flight is the last', async () => {
    const { stub, driver } = await setup({
      servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 1024, dirtyBytesPerS: 512 * MiB }],
      // Still 'accepted' when force_complete is first tried, however slow the machine.
      setupMs: 60_000,
    });
    const handle = await driver.start(move(), tuning);
    // Before the compute runs it, Nova refuses force_complete.
    const early = await driver.pause(handle).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(DriverRefusedError);
    expect((early as DriverRefusedError).userMessage).toMatch(
      /400 Migration 1 state of instance .* is accepted\. Cannot force complete/,
    );
    stub.advance(120_000);
    const stuck = await driver.sample(handle);
    expect(stuck).toMatchObject({ status: 'active' });
    expect(stuck.remainingBytes).toBeGreaterThan(0);
    await driver.pause(handle);
    expect(stub.migrationsOf('vm-1')[0]?.status).toBe('running'); // paused, still pre-copy
    stub.advance(10_000);
    expect((await driver.sample(handle)).status).toBe('completed');
    expect(stub.server('vm-1').host).toBe('cmp-2');
  });

  it('force_complete with post-copy permitted: post-copy shows to the end; a restarted driver re-attaches and sends nothing', async () => {
    const { stub, driver } = await setup({
      servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 1024, dirtyBytesPerS: 512 * MiB }],
      permitPostCopy: true,
    });
    const handle = await driver.start(move(), tuning);
    stub.advance(120_000);
    const before = await driver.sample(handle);
    await driver.switchToPostCopy(handle);
    expect(stub.migrationsOf('vm-1')[0]?.status).toBe('running (post-copy)');
    const during = await driver.sample(handle);
    expect(during).toMatchObject({ status: 'postcopy-active', transferredBytes: before.transferredBytes });
    // Nova cancels nothing in post-copy: the guest already runs on the destination.
    await expect(driver.abort(handle)).rejects.toThrow(
      /is running \(post-copy\)\. Cannot abort live migration/,
    );
    // A restarted ferry: a pending record's start() and a stored handle's sample() both re-attach.
    const restarted = newDriver();
    const again = await restarted.start(move(), tuning);
    expect(again.ref).toBe(handle.ref);
    expect((await restarted.sample(handle)).status).toBe('postcopy-active');
    expect(await restarted.precheck(move())).toEqual({ ok: true });
    stub.advance(10_000);
    expect((await restarted.sample(handle)).status).toBe('completed');
    expect(stub.count('POST', /\/action$/, 'os-migrateLive')).toBe(1);
    expect(stub.count('POST', /\/migrations\/1\/action$/, 'force_complete')).toBe(1);
  });

  it('a PAUSED server migrates with no switchover offered: Nova refuses force_complete and abort for it', async () => {
    const { stub, driver } = await setup({
      servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 1024, status: 'PAUSED', dirtyBytesPerS: 512 * MiB }],
    });
    const instance = (await driver.inventory()).instances[0]!;
    expect(instance).toMatchObject({
      migratable: true,
      dirtyBytesPerS: 0,
      switchoverRefused: expect.stringMatching(/ACTIVE servers only.*PAUSED/),
    });
    const handle = await driver.start(move(), tuning);
    stub.advance(1000);
    expect(stub.server('vm-1')).toMatchObject({ status: 'MIGRATING', vmState: 'paused' });
    await expect(driver.pause(handle)).rejects.toThrow(/409 Cannot 'force_complete' .* vm_state paused/);
    await expect(driver.abort(handle)).rejects.toThrow(
      /409 Cannot 'abort live migration' .* vm_state paused/,
    );
    stub.advance(10_000); // a paused guest dirties nothing: one pass and it is across
    expect((await driver.sample(handle)).status).toBe('completed');
    expect(stub.server('vm-1')).toMatchObject({ host: 'cmp-2', status: 'PAUSED' });
  });

  it('a target on the source host: Nova (2.34+) answers 202, then the conductor fails it', async () => {
    const { stub, driver } = await setup();
    const err = await driver.start(move('vm-1', 'cmp-1'), tuning).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverRefusedError);
    expect((err as FerryError).userMessage).toMatch(
      /migration 1 error.*Unable to migrate instance .* to current host/,
    );
    expect(stub.migrationsOf('vm-1').map((m) => m.status)).toEqual(['error']);
    expect(stub.server('vm-1')).toMatchObject({ host: 'cmp-1', status: 'ACTIVE' });
  });

  it('aborts: the server stays on its source, ACTIVE; a second abort is harmless', async () => {
    const { stub, driver } = await setup();
    const handle = await driver.start(move(), tuning);
    stub.advance(1500);
    await driver.abort(handle);
    expect(stub.server('vm-1')).toMatchObject({ host: 'cmp-1', status: 'ACTIVE', taskState: null });
    expect(stub.migrationsOf('vm-1')).toEqual([
      { id: 1, status: 'cancelled', source: 'cmp-1', dest: 'cmp-2' },
    ]);
    expect((await driver.sample(handle)).status).toBe('cancelled');
    await driver.abort(handle);
    expect(stub.count('DELETE', /\/migrations\/1$/)).toBe(2);
  });

  it('says "no such migration" when Nova no longer has the migration record', async () => {
    const { driver } = await setup();
    const handle = await driver.start(move(), tuning);
    // A record Nova dropped (archived, or a cell database restored): 404 for it, and not listed.
    const { serverId } = JSON.parse(handle.ref!) as { serverId: string };
    const gone = { ...handle, ref: JSON.stringify({ serverId, migrationId: 77 }) };
    const lost = driver.sample(gone);
    await expect(lost).rejects.toBeInstanceOf(MigrationLostError);
    await expect(lost).rejects.toMatchObject({ code: 'MIGRATION_LOST', retryable: false });
    await expect(lost).rejects.toThrow(/Nova has no live migration 77 of vm-1 any more/);
    // The migration Nova does know is sampled as before.
    expect((await driver.sample(handle)).status).not.toBe('failed');
    // The engine then asks the inventory where the server is (here: still migrating under the
    // record Nova does have, so whether it runs is not claimed); a down cell cannot say (yet).
    expect(await whereIs(driver, gone)).toEqual({
      host: 'cmp-1',
      detail: 'Nova status MIGRATING: only ACTIVE or PAUSED servers can be live-migrated',
    });
    stub!.takeCellDown('cell1');
    await expect(whereIs(driver, gone)).rejects.toBeInstanceOf(DriverUnreachableError);
  });

  it('refuses to abort a migration that already completed', async () => {
    const { stub, driver } = await setup();
    const handle = await driver.start(move(), tuning);
    stub.advance(60_000);
    await expect(driver.abort(handle)).rejects.toBeInstanceOf(ConflictError);
    expect(stub.server('vm-1').host).toBe('cmp-2');
  });

  it('turns a 409 into a refusal and a 500 into a retryable one; a retry starts exactly one migration', async () => {
    const { stub, driver } = await setup({
      servers: [
        { name: 'vm-1', host: 'cmp-1' },
        { name: 'busy', host: 'cmp-1', taskState: 'resize_migrating' },
      ],
    });
    const conflict = await driver.start(move('busy'), tuning).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(DriverRefusedError);
    expect(conflict).toMatchObject({ retryable: false });
    expect((conflict as FerryError).userMessage).toMatch(
      /409 Cannot 'os-migrateLive' .* task_state resize_migrating/,
    );

    stub.failNext({ method: 'POST', path: /\/action$/, action: 'os-migrateLive', status: 500 });
    const fault = await driver.start(move(), tuning).catch((e: unknown) => e);
    expect(fault).toBeInstanceOf(DriverRefusedError);
    expect(fault).toMatchObject({ retryable: true });
    expect((fault as FerryError).userMessage).toMatch(/500 Unexpected API Error/);
    const handle = await driver.start(move(), tuning);
    expect(stub.migrationsOf('vm-1')).toHaveLength(1);
    stub.failNext({ method: 'GET', path: /\/migrations\/\d+$/, status: 503 });
    await expect(driver.sample(handle)).rejects.toMatchObject({ code: 'DRIVER_REFUSED', retryable: true });
    expect((await driver.sample(handle)).status).toBe('setup'); // Nova still prepares it
  });

  it('refuses a start when Nova finds no valid host, with the reason from the instance actions', async () => {
    const { stub, driver } = await setup();
    const err = await driver.start(move('vm-1', 'cmp-3'), tuning).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverRefusedError);
    expect((err as FerryError).userMessage).toMatch(/migration 1 error.*No valid host was found/);
    expect(stub.server('vm-1')).toMatchObject({ host: 'cmp-1', status: 'ACTIVE' });
  });

  it('reports a server stuck in MIGRATING with its migration in error as a failed sample with the cause', async () => {
    const { stub, driver } = await setup();
    const handle = await driver.start(move(), tuning);
    stub.advance(2000);
    await driver.sample(handle);
    stub.failMigration('vm-1', { stuck: true, cause: 'libvirt.libvirtError: Unable to read from monitor' });
    const sample = await driver.sample(handle);
    expect(sample.status).toBe('failed');
    expect(sample.error).toMatch(/vm-1 is stuck in MIGRATING on cmp-1 \(task_state migrating\)/);
    expect(sample.error).toMatch(/live migration 1 is failed: compute_live_migration failed on cmp-1/);
    expect(sample.error).toMatch(/Unable to read from monitor/);
    expect(sample.transferredBytes).toBeGreaterThan(0);
  });

  it('reports an ordinary failure with the server back on its source', async () => {
    const { stub, driver } = await setup();
    stub.failMigration('vm-1'); // armed: the next migration fails when it starts running
    const handle = await driver.start(move(), tuning);
    stub.advance(1000);
    const sample = await driver.sample(handle);
    expect(sample.status).toBe('failed');
    expect(sample.error).toMatch(
      /live migration 1 of vm-1 is failed: .*unexpectedly failed; it is ACTIVE on cmp-1/,
    );
  });

  it('does not tune (Nova has no per-migration knob) and cannot run maintenance', async () => {
    const { stub, driver } = await setup();
    const handle = await driver.start(move(), tuning);
    const before = stub.calls.length;
    await driver.tune(handle, { downtimeLimitMs: 300, autoConverge: true });
    expect(stub.calls.length).toBe(before);
    await expect(driver.runMaintenance('cmp-1')).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('reports an unreachable Nova as a retryable DriverUnreachableError', async () => {
    const { stub: closing, driver } = await setup();
    await driver.inventory();
    await closing.close();
    stub = undefined;
    const err = await driver.inventory().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverUnreachableError);
    expect(err).toMatchObject({ retryable: true });
  });
});
