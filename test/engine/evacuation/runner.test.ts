import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { createLocalEngine } from '../../../src/engine/compose.js';
import { defaultPolicy, type PolicyConfig } from '../../../src/engine/config.js';
import { SimDriver, type SimFault } from '../../../src/engine/drivers/sim/index.js';
import { ConflictError, ForbiddenError, HostKeyMismatchError } from '../../../src/engine/errors.js';
import { abandonEvacuation, runEvacuation } from '../../../src/engine/evacuation/runner.js';
import { type FerryEvent, type Fleet, GBPS, MiB } from '../../../src/engine/model.js';
import type { EngineStore } from '../../../src/engine/ports.js';
import { postMortem } from '../../../src/engine/report.js';
import { MemoryStore } from '../../../src/engine/store/memory/store.js';
import { host, vm } from '../../support/fleet.js';

function fleet(): Fleet {
  const on1 = (name: string, gib: number, dirtyMiBps: number) =>
    vm(name, 'hv1', gib, { dirtyBytesPerS: dirtyMiBps * MiB });
  return {
    hosts: [host('hv1'), host('hv2'), host('hv3')],
    instances: [
      on1('web-1', 4, 10),
      on1('web-2', 8, 30),
      on1('api-1', 16, 80),
      { ...on1('db-1', 32, 1500), downtimeSloMs: 300 },
      { ...on1('gpu-1', 8, 10), migratable: false, notMigratableReason: 'PCI passthrough' },
    ],
  };
}

const quiet = (f: Fleet) => ({ ...f, instances: f.instances.filter((i) => i.name !== 'db-1') });

function setup(
  options: {
    policy?: Partial<PolicyConfig>;
    fleet?: Fleet;
    faults?: SimFault[];
    answer?: 'approved' | 'rejected';
  } = {},
) {
  const clock = new VirtualClock(Date.UTC(2026, 10, 24, 2, 0));
  const policy = { ...defaultPolicy, ...options.policy };
  const driver = new SimDriver({
    fleet: options.fleet ?? fleet(),
    clock,
    streamCapBytesPerS: policy.streamCapGbps * GBPS,
    faults: options.faults,
  });
  const config = { policy, windows: [], timezone: 'UTC', maintenance: { reenable: true, timeoutS: 60 } };
  const engine = createLocalEngine({
    config,
    driver,
    clock,
    answer: options.answer && { outcome: options.answer, by: 'U_ROBOT' },
  });
  return { clock, driver, policy, ...engine };
}

/**
 * The quiet fleet's evacuation, drained one VM at a time (each start its own commit), scheduled
 * an hour out so that the test runs it by hand.
 */
async function drainOneAtATime() {
  const engine = setup({ fleet: quiet(fleet()), policy: { maxPerSource: 1 } });
  const { id } = await engine.service.evacuate({
    source: 'hv1',
    requestedBy: 'U_ALICE',
    maintenance: false,
    when: { kind: 'in', ms: 3_600_000 },
  });
  return { ...engine, id };
}

const isSame = (a: FerryEvent, b: FerryEvent) => JSON.stringify(a) === JSON.stringify(b);

const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

function expectCompleteStream(events: FerryEvent[]) {
  const started = ofType(events, 'migration.started').map((e) => e.instance);
  const ended = events.flatMap((e) =>
    e.type === 'migration.completed' || e.type === 'migration.failed' || e.type === 'migration.aborted'
      ? [e.instance]
      : [],
  );
  expect(new Set(started).size).toBe(started.length);
  expect(new Set(ended).size).toBe(ended.length);
  for (const instance of started) expect(ended).toContain(instance);
  expect(ofType(events, 'evacuation.finished')).toHaveLength(1);
}

describe('an evacuation on the simulator', () => {
  it('disables the source, moves every VM that can move, and says what stayed and why', async () => {
    const { service, launcher, driver, store } = setup({ fleet: quiet(fleet()) });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    const done = await launcher.finished(id);
    expect(done?.state).toBe('partial');
    const inventory = await driver.inventory();
    expect(inventory.hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(false);
    const left = inventory.instances.filter((i) => i.host === 'hv1').map((i) => i.name);
    expect(left).toEqual(['gpu-1']);
    const events = await store.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'host.disabled')).toHaveLength(1);
    const finished = ofType(events, 'evacuation.finished')[0]!;
    expect(finished.stayed).toEqual([
      { instance: 'gpu-1', code: 'not-migratable', reason: 'PCI passthrough' },
    ]);
    const report = postMortem(events);
    expect(report.migrations.map((m) => m.state)).toEqual(['completed', 'completed', 'completed']);
    for (const m of report.migrations) expect(m.downtimeMs).toBeLessThanOrEqual(500);
  });

  it('runs the maintenance on an emptied host and gives it back to the scheduler', async () => {
    const f = quiet(fleet());
    const { service, launcher, driver, store } = setup({
      fleet: { ...f, instances: f.instances.filter((i) => i.migratable) },
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: true });
    expect((await launcher.finished(id))?.state).toBe('completed');
    const types = (await store.events(id)).map((e) => e.type);
    expect(types.indexOf('maintenance.started')).toBeGreaterThan(types.lastIndexOf('migration.completed'));
    expect(types.slice(-3)).toEqual(['maintenance.finished', 'host.enabled', 'evacuation.finished']);
    expect((await driver.inventory()).hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(true);
  });

  it('runs maintenance at most once: after a takeover mid-maintenance it waits for an operator', async () => {
    const f = quiet(fleet());
    const { service, launcher, driver, store, approvals, control, clock, policy } = setup({
      fleet: { ...f, instances: f.instances.filter((i) => i.migratable) },
    });
    let runs = 0;
    const run = driver.runMaintenance.bind(driver);
    driver.runMaintenance = (host) => {
      runs++;
      return run(host);
    };
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: true });
    const done = (await launcher.finished(id))!;
    expect(runs).toBe(1);
    // A worker died while the command ran: the mark is there, the outcome is not.
    const { endedAt: _, ...open } = done;
    await store.commit({
      evacuation: { ...open, state: 'maintenance', maintenanceRun: { attempt: 1, startedAt: clock.now() } },
    });
    const deps = { driver, store, approvals, control, clock, policy };
    await driver.setSchedulable('hv1', false, 'draining');
    const takeover = runEvacuation(id, deps);
    let events: FerryEvent[] = [];
    while (!events.some((e) => e.type === 'maintenance.unknown')) {
      await clock.sleep(1000);
      events = await store.events(id);
    }
    await clock.sleep(600_000);
    expect(runs).toBe(1);
    expect((await service.status(id)).state).toBe('maintenance');
    expect((await driver.inventory()).hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(false);
    await expect(service.maintenance('nope', 'done', 'U_BOB')).rejects.toThrow(/no evacuation/);
    await service.maintenance(id, 'retry', 'U_BOB');
    expect((await takeover).state).toBe('completed');
    expect(runs).toBe(2);
    await expect(service.maintenance(id, 'retry', 'U_BOB')).rejects.toThrow(
      /only a maintenance whose outcome is unknown/,
    );
  });

  it('asks a second person before post-copy, and never lets the requester approve', async () => {
    const { service, launcher, store, clock } = setup({
      policy: { allowAutoConverge: false, stallTimeoutS: 30 },
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    let requested: Extract<FerryEvent, { type: 'approval.requested' }> | undefined;
    while (!requested) {
      await clock.sleep(1000);
      requested = ofType(await store.events(id), 'approval.requested')[0];
    }
    expect(requested.approval).toMatchObject({
      instance: 'db-1',
      kind: 'postcopy',
      requestedBy: 'U_ALICE',
      downtimeSloMs: 300,
    });
    await expect(service.decide(requested.approval.id, 'approved', 'U_ALICE')).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const decision = await service.decide(requested.approval.id, 'approved', 'U_BOB');
    expect(decision.decidedBy).toBe('U_BOB');
    // The first decision stands: a later click changes nothing.
    expect((await service.decide(requested.approval.id, 'rejected', 'U_CAROL')).decidedBy).toBe('U_BOB');
    await launcher.finished(id);
    const report = postMortem(await store.events(id));
    const db = report.migrations.find((m) => m.instance === 'db-1')!;
    expect(db).toMatchObject({ state: 'completed', strategy: 'postcopy' });
    expect(db.downtimeMs).toBeLessThan(50);
    expect(report.approvals).toEqual([
      expect.objectContaining({ instance: 'db-1', outcome: 'approved', decidedBy: 'U_BOB' }),
    ]);
  });

  it('aborts on rejection: the VM keeps running on its source', async () => {
    const { service, launcher, store, driver } = setup({
      policy: { allowAutoConverge: false, stallTimeoutS: 30 },
      answer: 'rejected',
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    expect((await launcher.finished(id))?.state).toBe('partial');
    const events = await store.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.aborted').map((e) => e.instance)).toEqual(['db-1']);
    expect((await driver.inventory()).instances.find((i) => i.name === 'db-1')?.host).toBe('hv1');
    expect(postMortem(events).recommendations.join('\n')).toMatch(
      /db-1 dirties \d+ MiB\/s: schedule it with post-copy allowed/,
    );
  });

  it('runs the safe action when nobody answers in time', async () => {
    const { service, launcher, store } = setup({
      policy: { allowAutoConverge: false, askEarly: false, stallTimeoutS: 30, approvalTimeoutS: 120 },
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await launcher.finished(id);
    const events = await store.events(id);
    const decided = ofType(events, 'approval.decided')[0]!;
    expect(decided.decision).toMatchObject({ outcome: 'expired', decidedBy: 'system' });
    const requested = ofType(events, 'approval.requested')[0]!;
    expect(decided.at - requested.at).toBeGreaterThanOrEqual(120_000);
    expect(ofType(events, 'migration.aborted')[0]?.cause).toMatch(/approval expired/);
  });

  it('never carries out an approval recorded at or after its expiry: expiry wins', async () => {
    const { service, launcher, store, approvals, driver } = setup({
      policy: { allowAutoConverge: false, askEarly: false, stallTimeoutS: 30, approvalTimeoutS: 120 },
    });
    // A store that let a late click through (say, an older ferry's data): approved at the expiry.
    approvals.decision = async (approvalId) => {
      const request = await approvals.get(approvalId);
      return request && { approvalId, outcome: 'approved', decidedBy: 'U_BOB', decidedAt: request.expiresAt };
    };
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await launcher.finished(id);
    const events = await store.events(id);
    expect(ofType(events, 'migration.switchover')).toEqual([]);
    expect(ofType(events, 'approval.decided')[0]?.decision).toMatchObject({ outcome: 'expired' });
    expect(ofType(events, 'migration.aborted').map((e) => e.instance)).toEqual(['db-1']);
    expect((await driver.inventory()).instances.find((i) => i.name === 'db-1')?.host).toBe('hv1');
  });

  it('keeps watching a migration whose abort the driver refuses, so the evacuation still ends', async () => {
    const { service, store, clock, driver } = setup({ fleet: quiet(fleet()), policy: { maxPerSource: 1 } });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    while (ofType(await store.events(id), 'migration.started').length < 1) await clock.sleep(1000);
    // As Nova answers for a migration that completed before the abort reached it.
    driver.abort = async () => {
      throw new ConflictError('it already completed its migration: nothing to abort');
    };
    await service.control(id, 'abort', 'U_BOB');
    const deadline = clock.now() + 3_600_000;
    while (!['aborted', 'partial', 'completed'].includes((await service.status(id)).state)) {
      if (clock.now() > deadline)
        throw new Error('the evacuation never ended: the abort is retried for ever');
      await clock.sleep(1000);
    }
    const events = await store.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.completed')).toHaveLength(1);
    expect(ofType(events, 'migration.aborted').every((e) => e.cause === 'evacuation aborted by U_BOB')).toBe(
      true,
    );
  });

  it("pauses admissions, resumes, and aborts on an operator's word", async () => {
    const { service, launcher, store, clock, driver } = setup({
      fleet: quiet(fleet()),
      policy: { maxPerSource: 1 },
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await clock.sleep(1500);
    await service.control(id, 'pause', 'U_ALICE');
    await clock.sleep(120_000);
    expect((await service.status(id)).state).toBe('paused');
    const startedWhilePaused = ofType(await store.events(id), 'migration.started').length;
    expect(startedWhilePaused).toBe(1);
    await service.control(id, 'resume', 'U_ALICE');
    while (ofType(await store.events(id), 'migration.started').length < 2) await clock.sleep(1000);
    await service.control(id, 'abort', 'U_BOB');
    const done = await launcher.finished(id);
    expect(done?.state).toBe('aborted');
    const events = await store.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.aborted').some((e) => e.cause === 'evacuation aborted by U_BOB')).toBe(
      true,
    );
    expect((await driver.inventory()).hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(true);
  });

  it('refuses a second evacuation of the same host, naming the running one', async () => {
    const { service } = setup({ fleet: quiet(fleet()) });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await expect(
      service.evacuate({ source: 'hv1', requestedBy: 'U_BOB', maintenance: false }),
    ).rejects.toThrow(new RegExp(`hv1 is already being evacuated by ${id}`));
  });

  it('resumes after the process running it died, starting nothing twice', async () => {
    const { service, store, approvals, control, clock, driver, policy } = setup({ fleet: quiet(fleet()) });
    const { id } = await service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    // A first runner dies after a few steps, mid-drain; a second one picks the evacuation up.
    let steps = 0;
    const crash = async () => {
      if (++steps === 5) throw new Error('SIGKILL');
    };
    const deps = { driver, store, approvals, control, clock, policy };
    await expect(runEvacuation(id, { ...deps, onStep: crash })).rejects.toThrow('SIGKILL');
    expect(ofType(await store.events(id), 'migration.started').length).toBeGreaterThan(0);
    const done = await runEvacuation(id, deps);
    expect(done.state).toBe('partial');
    expectCompleteStream(await store.events(id));
  });

  it('finishes from where the VMs are when a failover took back its last steps, moving none twice', async () => {
    const { store, approvals, control, clock, driver, policy, id } = await drainOneAtATime();
    const created = { evacuation: (await store.loadEvacuation(id))!, events: await store.events(id) };
    // Every commit as the primary took it: a promoted replica holds only the first few.
    const commits: Parameters<EngineStore['commit']>[0][] = [];
    const primary: EngineStore = Object.assign(Object.create(store) as EngineStore, {
      commit: (change: Parameters<EngineStore['commit']>[0]) => {
        commits.push(structuredClone(change));
        return store.commit(change);
      },
    });
    const deps = { driver, store: primary, approvals, control, clock, policy };
    const first = await runEvacuation(id, deps);
    const events = await store.events(id);
    const starts = events.filter((e) => e.type === 'migration.started');
    // The replica lost everything from the commit that started the last VM on: that VM is
    // pending there (its move done and not recorded), the ones before it running.
    const lost = commits.findIndex((c) => c.events?.some((e) => isSame(e, starts.at(-1)!)));
    expect(lost).toBeGreaterThan(0);
    const replica = new MemoryStore();
    await replica.create(created.evacuation, created.events);
    for (const change of commits.slice(0, lost)) await replica.commit(structuredClone(change));
    expect(ofType(await replica.events(id), 'migration.started')).toHaveLength(starts.length - 1);

    const done = await runEvacuation(id, { ...deps, store: replica });
    expect(done.state).toBe(first.state);
    const again = await replica.events(id);
    expectCompleteStream(again);
    // Each VM moved once, by the migration its record names, to where the record says.
    const { migrations, fleet: after } = driver.snapshot();
    for (const started of ofType(again, 'migration.started')) {
      expect(migrations.filter((m) => m.instance === started.instance)).toHaveLength(1);
      expect(after.instances.find((i) => i.name === started.instance)?.host).toBe(started.to);
    }
  });

  it('records a pending move whose VM already runs on its destination as done, never moving it again', async () => {
    const { store, approvals, control, clock, driver, policy, id } = await drainOneAtATime();
    // After the first step, the last pending VM is moved to its planned destination by a
    // migration ferry has no record of (what a lost tail, or a hand, leaves behind).
    let moved: { instance: string; to: string } | undefined;
    const onStep = async () => {
      if (moved) return;
      const last = (await store.loadEvacuation(id))!.migrations.filter((m) => m.state === 'pending').at(-1)!;
      moved = { instance: last.instance, to: last.to };
      const request = { migrationId: 'by-hand', instance: last.instance, from: last.from, to: last.to };
      await driver.start(request, { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: false });
    };
    const done = await runEvacuation(id, { driver, store, approvals, control, clock, policy, onStep });
    expect(done.state).toBe('partial');
    const events = await store.events(id);
    expectCompleteStream(events);
    const found = ofType(events, 'migration.completed').find((e) => e.instance === moved!.instance);
    expect(found?.cause).toMatch(/already runs on its destination .*not moved again/);
    const runs = driver.snapshot().migrations.filter((m) => m.instance === moved!.instance);
    expect(runs.map((m) => m.id)).toEqual(['by-hand']);
    expect(driver.snapshot().fleet.instances.find((i) => i.name === moved!.instance)?.host).toBe(moved!.to);
  });

  it('fails a refused move whose VM cannot ever be located (a host key not the pinned one), not waits for ever', async () => {
    const { store, approvals, control, clock, driver, policy, id } = await drainOneAtATime();
    driver.precheck = async () => ({ ok: false, reasons: ['the destination presented another host key'] });
    Object.assign(driver, {
      locate: async () => {
        throw new HostKeyMismatchError('hv2 presented host key SHA256:x, not the pinned SHA256:y');
      },
    });
    const deadline = clock.now() + 3_600_000;
    const onStep = async () => {
      if (clock.now() > deadline) throw new Error('still waiting to locate a VM it can never locate');
    };
    const done = await runEvacuation(id, { driver, store, approvals, control, clock, policy, onStep });
    expect(done.state).toBe('failed');
    const events = await store.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.started')).toEqual([]);
    expect(ofType(events, 'migration.failed').every((e) => /precheck failed/.test(e.cause))).toBe(true);
  });

  it('ends safely when nobody can run it any more: what runs is cancelled, every VM stays home', async () => {
    const { service, store, approvals, control, clock, driver, policy } = setup({ fleet: quiet(fleet()) });
    const { id } = await service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    const deps = { driver, store, approvals, control, clock, policy };
    let steps = 0;
    const crash = async () => {
      if (++steps === 2) throw new Error('the bot keeps crashing');
    };
    await expect(runEvacuation(id, { ...deps, onStep: crash })).rejects.toThrow();
    const running = ofType(await store.events(id), 'migration.started').map((e) => e.instance);
    expect(running.length).toBeGreaterThan(0);
    await abandonEvacuation(id, 'ferry gave up after 20 attempts', deps);
    expect((await service.status(id)).state).toBe('failed');
    const events = await store.events(id);
    expectCompleteStream(events);
    const inventory = await driver.inventory();
    await clock.sleep(60_000);
    for (const instance of running)
      expect(inventory.instances.find((i) => i.name === instance)?.host).toBe('hv1');
    expect((await driver.inventory()).instances.filter((i) => i.host === 'hv1').length).toBe(4);
  });

  it('fails a migration whose link drops, and leaves the VM on its source', async () => {
    const { service, launcher, store, driver } = setup({
      fleet: quiet(fleet()),
      faults: [{ kind: 'link-drop', instance: 'api-1', during: 'precopy', afterMs: 2000 }],
    });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await launcher.finished(id);
    const failed = ofType(await store.events(id), 'migration.failed');
    expect(failed.map((e) => e.instance)).toEqual(['api-1']);
    expect((await driver.inventory()).instances.find((i) => i.name === 'api-1')?.host).toBe('hv1');
  });

  it('counts other evacuations against the fleet-wide ceiling', async () => {
    const base = quiet(fleet());
    const twoSources: Fleet = {
      hosts: base.hosts,
      instances: [
        ...base.instances.filter((i) => i.migratable),
        { ...base.instances[0]!, name: 'web-9', host: 'hv2' },
        { ...base.instances[1]!, name: 'web-8', host: 'hv2' },
      ],
    };
    const { service, launcher, store } = setup({ fleet: twoSources, policy: { maxGlobal: 2 } });
    const a = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    // Both drains admit in the same instant: admission is exclusive, so neither misses the other.
    const b = await service.evacuate({ source: 'hv2', requestedBy: 'U_ALICE', maintenance: false });
    await Promise.all([launcher.finished(a.id), launcher.finished(b.id)]);
    // In one instant, a migration that ended frees its slot before another starts in it.
    const starts = (e: FerryEvent) => (e.type === 'migration.started' ? 1 : 0);
    const events = [...(await store.events(a.id)), ...(await store.events(b.id))].sort(
      (x, y) => x.at - y.at || starts(x) - starts(y),
    );
    let running = 0;
    let peak = 0;
    for (const e of events) {
      if (e.type === 'migration.started') running++;
      if (e.type === 'migration.completed' || e.type === 'migration.failed' || e.type === 'migration.aborted')
        running--;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(2);
    expect(ofType(events, 'migration.completed')).toHaveLength(5);
  });

  it('moves a scheduled evacuation to another time, and refuses once it runs', async () => {
    const { service, launcher, store, clock } = setup({ fleet: quiet(fleet()) });
    const t0 = clock.now();
    const { id } = await service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    const { startsAt } = await service.reschedule(id, { kind: 'in', ms: 600_000 }, 'U_ALICE');
    expect(startsAt).toBe(t0 + 600_000);
    while ((await service.status(id)).state === 'scheduled') await clock.sleep(1000);
    const started = ofType(await store.events(id), 'evacuation.started')[0]!;
    expect(started.at).toBeGreaterThanOrEqual(t0 + 600_000);
    expect(started.at).toBeLessThan(t0 + 3_600_000);
    await expect(service.reschedule(id, { kind: 'now' }, 'U_ALICE')).rejects.toThrow(
      /only an evacuation that has not started/,
    );
    await launcher.finished(id);
    // The first launch, an hour out, must not start it a second time.
    await clock.sleep(4_000_000);
    expect(ofType(await store.events(id), 'evacuation.started')).toHaveLength(1);
  });

  it('moves one VM on request without taking its host out of service', async () => {
    const { service, launcher, driver } = setup({ fleet: quiet(fleet()) });
    const { id } = await service.migrate({ instance: 'web-2', to: 'hv3', requestedBy: 'U_ALICE' });
    expect((await launcher.finished(id))?.state).toBe('completed');
    const inventory = await driver.inventory();
    expect(inventory.instances.find((i) => i.name === 'web-2')?.host).toBe('hv3');
    expect(inventory.hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(true);
  });
});
