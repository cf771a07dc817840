import { afterEach, describe, expect, it, onTestFailed } from 'vitest';
import type { Clock } from '../../../../src/engine/clock.js';
import { configSchema, createLocalEngine, type FerryConfig } from '../../../../src/engine/compose.js';
import type { PolicyConfig } from '../../../../src/engine/config.js';
import type { NovaDriver } from '../../../../src/engine/drivers/nova/driver.js';
import { createNovaDriver } from '../../../../src/engine/drivers/nova/index.js';
import { ConfigError, ConflictError, ForbiddenError } from '../../../../src/engine/errors.js';
import { policyForDriver } from '../../../../src/engine/evacuation/policy.js';
import { runEvacuation, runnerDeps } from '../../../../src/engine/evacuation/runner.js';
import type { Evacuation, FerryEvent } from '../../../../src/engine/model.js';
import { postMortem } from '../../../../src/engine/report.js';
import { EngineService } from '../../../../src/engine/service.js';
import {
  MemoryAdmissionGate,
  MemoryApprovals,
  MemoryAudit,
  MemoryCampaigns,
  MemoryControl,
  MemoryPlans,
  MemoryStore,
} from '../../../../src/engine/store/memory/index.js';
import { NovaStub, novaTestConfig, type StubServerSpec } from '../../../support/nova-stub.js';

/**
 * ferry's engine (EngineService, the in-process launcher, runEvacuation, the policy) draining a
 * compute host through the Nova driver against the loopback Nova + Keystone stub. The engine's
 * clock is the stub's clock (SPEED times the wall clock), so the policy's seconds and the stub's
 * migration model agree; every assertion is about what happened, never how fast.
 */

const SPEED = 20;
const MiB = 1024 ** 2;
/** Each migration's stream in the stub: 1 GiB of guest memory takes 8 s (engine time) per pass. */
const BANDWIDTH = 128 * MiB;

/** Engine time = stub time; sleeps are SPEED times shorter in wall time. */
function stubClock(stub: NovaStub): Clock {
  return {
    now: () => stub.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms / SPEED)),
  };
}

/** Short policy timings (engine seconds); auto-converge off: on Nova it is nova.conf's, not ferry's. */
const FAST: Partial<PolicyConfig> = {
  sampleIntervalS: 1,
  downtimeRampSteps: 3,
  downtimeRampStepS: 2,
  stallTimeoutS: 20,
  completionTimeoutSPerGiB: 40,
  approvalTimeoutS: 300,
  allowAutoConverge: false,
  // The live path (asked when needed) on Nova; pre-approvals are tested on the simulator.
  askEarly: false,
};

const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);
const of = (events: FerryEvent[], instance: string) =>
  events.filter((e) => 'instance' in e && e.instance === instance);
const ENDINGS = ['migration.completed', 'migration.failed', 'migration.aborted'];

let stub: NovaStub | undefined;
const drivers: NovaDriver[] = [];
const runs: Promise<unknown>[] = [];
afterEach(async () => {
  // A failed test must not leave a runner polling a closed stub.
  for (const run of runs.splice(0)) await run.catch(() => undefined);
  for (const d of drivers.splice(0)) await d.close();
  await stub?.close();
  stub = undefined;
});

function ferryConfig(
  s: NovaStub,
  policy: Partial<PolicyConfig>,
  extra: Record<string, unknown> = {},
  nova: Record<string, unknown> = {},
) {
  return configSchema.parse({
    fleet: { driver: 'nova' },
    policy: { ...FAST, ...policy },
    nova: novaTestConfig(s, nova),
    ...extra,
  });
}

async function setup(
  servers: StubServerSpec[],
  policy: Partial<PolicyConfig> = {},
  cloud: { permitPostCopy?: boolean; nova?: Record<string, unknown> } = {},
) {
  stub = await NovaStub.start({
    hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }, { name: 'cmp-3' }, { name: 'cmp-4' }],
    servers,
    bandwidthBytesPerS: BANDWIDTH,
    speedUp: SPEED,
    permitPostCopy: cloud.permitPostCopy ?? true,
  });
  const s = stub;
  const clock = stubClock(s);
  const config: FerryConfig = ferryConfig(s, policy, {}, cloud.nova);
  const driver = createNovaDriver(config, clock);
  drivers.push(driver);
  const logs: string[] = [];
  const engine = createLocalEngine({ config, driver, clock, log: (line) => logs.push(line) });
  onTestFailed(() => {
    console.log(`runner log:\n${logs.join('\n')}`);
  });
  const evacuate = async (maintenance: boolean) => {
    const { id } = await engine.service.evacuate({
      source: 'cmp-1',
      requestedBy: 'U_ALICE',
      reason: 'PSU swap',
      maintenance,
    });
    const finished = engine.launcher.finished(id) as Promise<Evacuation>;
    runs.push(finished);
    return { id, finished };
  };
  /** Polls the stream until `pick` finds something (wall-clock bound, generous). */
  const waitFor = async <T>(id: string, pick: (events: FerryEvent[]) => T | undefined): Promise<T> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const events = await engine.service.events(id);
      const found = pick(events);
      if (found !== undefined) return found;
      if (Date.now() > deadline)
        throw new Error(`not in the stream: ${events.map((e) => e.type).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { stub: s, driver, clock, ...engine, evacuate, waitFor };
}

/** os-migrateLive calls per server id. */
function liveMigrateCalls(s: NovaStub): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of s.calls)
    if (c.method === 'POST' && c.action === 'os-migrateLive') {
      const id = /^\/servers\/([^/]+)\/action$/.exec(c.path)![1]!;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  return counts;
}

/** Most migrations running at once, in all and into one destination, from the stream. */
function peakConcurrency(events: FerryEvent[]): { source: number; destination: number } {
  const running = new Map<string, string>();
  let source = 0;
  let destination = 0;
  for (const e of events) {
    if (e.type === 'migration.started') running.set(e.instance, e.to);
    else if (ENDINGS.includes(e.type) && 'instance' in e) running.delete(e.instance);
    source = Math.max(source, running.size);
    for (const to of new Set(running.values()))
      destination = Math.max(destination, [...running.values()].filter((t) => t === to).length);
  }
  return { source, destination };
}

const forceCompletes = (s: NovaStub, name: string) =>
  s.count('POST', new RegExp(`^/servers/${s.server(name).id}/migrations/\\d+/action$`), 'force_complete');
const deletes = (s: NovaStub, name: string) =>
  s.count('DELETE', new RegExp(`^/servers/${s.server(name).id}/migrations/\\d+$`));

describe('the engine draining a Nova compute host (loopback Nova + Keystone)', () => {
  it('drains ten servers: escalates a heavy one to force_complete, aborts a rejected one, reports failures', async () => {
    const normal = (name: string, ramMb = 1024): StubServerSpec => ({ name, host: 'cmp-1', ramMb });
    // Dirties twice what its stream sends: every pass re-sends all its memory, it never converges.
    const heavy = (name: string): StubServerSpec => ({
      name,
      host: 'cmp-1',
      ramMb: 1024,
      dirtyBytesPerS: 2 * BANDWIDTH,
    });
    const { stub, service, store, evacuate, waitFor } = await setup([
      normal('web-1'),
      normal('web-2'),
      normal('web-3', 2048),
      normal('web-4', 2048),
      normal('api-1'),
      normal('api-2'),
      normal('flaky-1', 2048),
      normal('stuck-1', 2048),
      heavy('db-1'),
      heavy('cache-1'),
    ]);
    const plan = await service.plan('cmp-1');
    expect(plan.moves).toHaveLength(10);
    expect(plan.blockers).toEqual([]);

    const { id, finished } = await evacuate(false);

    // A libvirt failure while running (the server stays ACTIVE on cmp-1), and one that leaves
    // the server stuck in MIGRATING: both injected once Nova runs their migrations.
    const started = (name: string) => (events: FerryEvent[]) =>
      ofType(events, 'migration.started').some((e) => e.instance === name) || undefined;
    const failWhenRunning = async (name: string, options: { stuck?: boolean; cause: string }) => {
      await waitFor(id, started(name));
      while (stub.migrationsOf(name).at(-1)?.status !== 'running')
        await new Promise((resolve) => setTimeout(resolve, 10));
      stub.failMigration(name, options);
    };
    const failures = Promise.all([
      failWhenRunning('flaky-1', { cause: 'libvirt.libvirtError: Unable to read from monitor' }),
      failWhenRunning('stuck-1', {
        stuck: true,
        cause: 'oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply',
      }),
    ]);

    // The policy escalates both heavy servers; the requester may not approve her own request.
    const approvalFor = (name: string) => (events: FerryEvent[]) =>
      ofType(events, 'approval.requested').find((e) => e.approval.instance === name)?.approval;
    const [db, cache] = await Promise.all([
      waitFor(id, approvalFor('db-1')),
      waitFor(id, approvalFor('cache-1')),
    ]);
    expect(db).toMatchObject({ kind: 'postcopy', requestedBy: 'U_ALICE' });
    await expect(service.decide(db.id, 'approved', 'U_ALICE')).rejects.toBeInstanceOf(ForbiddenError);
    expect(forceCompletes(stub, 'db-1')).toBe(0);
    await service.decide(db.id, 'approved', 'U_BOB');
    await service.decide(cache.id, 'rejected', 'U_CAROL');
    await failures;

    const done = await finished;
    expect(done.state).toBe('partial');
    const events = await store.events(id);

    // The host was disabled before anything moved, with the evacuation in its reason, and stays
    // disabled: maintenance: false hands the drained host to the operator.
    const disableCall = stub.calls.findIndex((c) => c.method === 'PUT' && c.path.startsWith('/os-services/'));
    const firstMove = stub.calls.findIndex((c) => c.action === 'os-migrateLive');
    expect(disableCall).toBeGreaterThanOrEqual(0);
    expect(disableCall).toBeLessThan(firstMove);
    expect(stub.service('cmp-1')).toEqual({
      status: 'disabled',
      disabledReason: `ferry evacuation ${id}: PSU swap`,
    });
    expect(ofType(events, 'host.disabled')).toEqual([
      expect.objectContaining({ host: 'cmp-1', reason: `ferry evacuation ${id}: PSU swap` }),
    ]);
    expect(ofType(events, 'host.enabled')).toEqual([]);
    expect(ofType(events, 'maintenance.started')).toEqual([]);

    // Every server started exactly once, in ferry's stream and in Nova; each ended exactly once.
    const all = plan.moves.map((m) => m.instance);
    for (const name of all) {
      expect(ofType(of(events, name), 'migration.started'), name).toHaveLength(1);
      expect(
        of(events, name)
          .filter((e) => ENDINGS.includes(e.type))
          .map((e) => e.type),
        name,
      ).toHaveLength(1);
      expect(liveMigrateCalls(stub).get(stub.server(name).id), name).toBe(1);
    }
    expect(ofType(events, 'evacuation.finished')).toHaveLength(1);
    // Never more at once than the policy's ceilings (maxPerSource 4, maxPerDestination 2).
    const peak = peakConcurrency(events);
    expect(peak.source).toBe(4);
    expect(peak.destination).toBeLessThanOrEqual(2);

    // Progress was sampled through Nova: a heavy server shows its bytes growing over many passes.
    const progress = ofType(of(events, 'db-1'), 'migration.progress').map((e) => e.sample);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.transferredBytes).toBeGreaterThan(progress[i - 1]!.transferredBytes);
    expect(progress.at(-1)!.transferredBytes).toBeGreaterThan(1024 * MiB);
    expect(progress.at(-1)!.iteration).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)!.dirtyBytesPerS).toBeGreaterThan(0);

    // db-1: approved by a second person, force_complete ran once, it moved by "post-copy".
    expect(forceCompletes(stub, 'db-1')).toBe(1);
    expect(ofType(of(events, 'db-1'), 'migration.switchover')).toEqual([
      expect.objectContaining({ kind: 'postcopy' }),
    ]);
    expect(ofType(of(events, 'db-1'), 'migration.completed')[0]?.strategy).toBe('postcopy');

    // cache-1: rejected, Nova cancelled the migration, the server stays ACTIVE on its source.
    expect(forceCompletes(stub, 'cache-1')).toBe(0);
    expect(deletes(stub, 'cache-1')).toBe(1);
    expect(stub.server('cache-1')).toMatchObject({ host: 'cmp-1', status: 'ACTIVE', taskState: null });
    expect(stub.migrationsOf('cache-1').map((m) => m.status)).toEqual(['cancelled']);
    expect(ofType(of(events, 'cache-1'), 'migration.aborted')).toEqual([
      expect.objectContaining({ cause: expect.stringMatching(/rejected by U_CAROL/) }),
    ]);

    // flaky-1 failed on the compute and stays ACTIVE on cmp-1; stuck-1 is stuck in MIGRATING.
    expect(stub.server('flaky-1')).toMatchObject({ host: 'cmp-1', status: 'ACTIVE' });
    expect(stub.server('stuck-1')).toMatchObject({
      host: 'cmp-1',
      status: 'MIGRATING',
      taskState: 'migrating',
    });

    // Everything else is on another host, ACTIVE.
    const moved = all.filter((n) => !['cache-1', 'flaky-1', 'stuck-1'].includes(n));
    expect(moved).toHaveLength(7);
    for (const name of moved) {
      const server = stub.server(name);
      expect(server.host, name).not.toBe('cmp-1');
      expect(server.status, name).toBe('ACTIVE');
      expect(stub.migrationsOf(name).map((m) => m.status)).toEqual(['completed']);
    }

    // The post-mortem, from the stream alone, names each failure's cause and what stayed.
    const report = postMortem(events);
    expect(report.outcome).toBe('partial');
    expect(report.hostReenabled).toBe(false);
    const facts = new Map(report.migrations.map((m) => [m.instance, m]));
    expect(report.migrations).toHaveLength(10);
    for (const name of moved) expect(facts.get(name)?.state, name).toBe('completed');
    expect(facts.get('db-1')).toMatchObject({ state: 'completed', strategy: 'postcopy' });
    expect(facts.get('cache-1')).toMatchObject({
      state: 'aborted',
      cause: expect.stringMatching(/rejected/),
    });
    expect(facts.get('flaky-1')).toMatchObject({
      state: 'failed',
      cause: expect.stringMatching(
        /flaky-1 is failed: compute_live_migration failed on cmp-1: libvirt\.libvirtError: Unable to read from monitor; it is ACTIVE on cmp-1/,
      ),
    });
    expect(facts.get('stuck-1')).toMatchObject({
      state: 'failed',
      cause: expect.stringMatching(
        /stuck-1 is stuck in MIGRATING on cmp-1 \(task_state migrating\).*MessagingTimeout.*until an operator resets its state/,
      ),
    });
    expect(report.stayed.map((b) => [b.instance, b.code]).sort()).toEqual([
      ['cache-1', 'migration-aborted'],
      ['flaky-1', 'migration-failed'],
      ['stuck-1', 'migration-failed'],
    ]);
    expect(report.approvals).toHaveLength(2);
    expect(report.approvals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ instance: 'db-1', outcome: 'approved', decidedBy: 'U_BOB' }),
        expect.objectContaining({ instance: 'cache-1', outcome: 'rejected', decidedBy: 'U_CAROL' }),
      ]),
    );

    // tune is a no-op on Nova: the ramp shows in the stream, and Nova saw no call for it. The
    // only changes ferry asked of Nova: disable, ten starts, one force_complete, one cancel.
    expect(ofType(events, 'migration.tuned').length).toBeGreaterThan(0);
    const changes = stub.calls
      .filter((c) => c.service === 'compute' && c.method !== 'GET')
      .map(
        (c) =>
          `${c.method} ${(c.method === 'POST' && c.action) || c.path.replace(/[0-9a-f-]{36}/g, '{id}').replace(/\/\d+$/, '/{n}')}`,
      );
    const tally = new Map<string, number>();
    for (const c of changes) tally.set(c, (tally.get(c) ?? 0) + 1);
    expect(Object.fromEntries(tally)).toEqual({
      'PUT /os-services/{id}': 1,
      'POST os-migrateLive': 10,
      'POST force_complete': 1,
      'DELETE /servers/{id}/migrations/{n}': 1,
    });
  });

  it("aborts on an operator's word: Nova cancels what runs, nothing else starts, the host is re-enabled", async () => {
    const { stub, service, store, evacuate, waitFor } = await setup(
      Array.from({ length: 6 }, (_, i) => ({ name: `vm-${i + 1}`, host: 'cmp-1', ramMb: 2048 })),
    );
    const { id, finished } = await evacuate(false);
    // Once Nova reports bytes moving for a migration, the operator aborts the evacuation.
    await waitFor(id, (events) =>
      ofType(events, 'migration.progress').some((e) => e.sample.transferredBytes > 0) ? true : undefined,
    );
    expect(stub.service('cmp-1').status).toBe('disabled');
    await service.control(id, 'abort', 'U_BOB');
    expect((await finished).state).toBe('aborted');
    const events = await store.events(id);

    const started = ofType(events, 'migration.started').map((e) => e.instance);
    expect(started.length).toBeGreaterThan(0);
    expect(started.length).toBeLessThan(6);
    const aborted = ofType(events, 'migration.aborted');
    expect(aborted.map((e) => e.instance).sort()).toEqual(['vm-1', 'vm-2', 'vm-3', 'vm-4', 'vm-5', 'vm-6']);
    for (const e of aborted) expect(e.cause).toBe('evacuation aborted by U_BOB');
    expect(ofType(events, 'migration.completed')).toEqual([]);
    for (let i = 1; i <= 6; i++) {
      const name = `vm-${i}`;
      // Every server is ACTIVE on its source; Nova cancelled each started migration, once.
      expect(stub.server(name), name).toMatchObject({ host: 'cmp-1', status: 'ACTIVE', taskState: null });
      const wasStarted = started.includes(name);
      expect(
        stub.migrationsOf(name).map((m) => m.status),
        name,
      ).toEqual(wasStarted ? ['cancelled'] : []);
      expect(deletes(stub, name), name).toBe(wasStarted ? 1 : 0);
    }
    // Nothing is going to be maintained: the host goes back to Nova's scheduler, after the cancels.
    expect(stub.service('cmp-1')).toEqual({ status: 'enabled', disabledReason: null });
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'host.enabled')).toHaveLength(1);
    expect(types.indexOf('host.enabled')).toBeGreaterThan(types.lastIndexOf('migration.aborted'));
    const report = postMortem(events);
    expect(report).toMatchObject({ outcome: 'aborted', hostReenabled: true });
    expect(report.migrations.every((m) => m.state === 'aborted')).toBe(true);
  });

  it('with maintenance: true, drains the host and leaves it disabled: Nova runs no maintenance', async () => {
    const { stub, store, evacuate } = await setup([
      { name: 'vm-1', host: 'cmp-1', ramMb: 512 },
      { name: 'vm-2', host: 'cmp-1', ramMb: 512 },
    ]);
    const { id, finished } = await evacuate(true);
    const done = await finished;
    const events = await store.events(id);
    expect(
      ofType(events, 'migration.completed')
        .map((e) => e.instance)
        .sort(),
    ).toEqual(['vm-1', 'vm-2']);
    for (const name of ['vm-1', 'vm-2']) expect(stub.server(name).host).not.toBe('cmp-1');
    // The maintenance step is refused with the reason; ferry does not give back a host whose
    // maintenance never ran: it stays disabled, with ferry's reason, for the operator's tooling.
    expect(ofType(events, 'maintenance.finished')).toEqual([
      expect.objectContaining({
        host: 'cmp-1',
        ok: false,
        output: expect.stringMatching(/nova driver cannot run maintenance on cmp-1/),
      }),
    ]);
    expect(ofType(events, 'host.enabled')).toEqual([]);
    expect(stub.service('cmp-1')).toEqual({
      status: 'disabled',
      disabledReason: `ferry evacuation ${id}: PSU swap`,
    });
    expect(done.state).toBe('failed');
    expect(postMortem(events)).toMatchObject({ outcome: 'failed', stayed: [], hostReenabled: false });
  });

  it('post-copy shows in progress to the end; a runner restarted during post-copy re-attaches and sends nothing again', async () => {
    // The planner is told guests dirty 1000 MiB/s: db-1 is planned for post-copy and asked for
    // once its first pass is across.
    stub = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
      servers: [{ name: 'db-1', host: 'cmp-1', ramMb: 4096, dirtyBytesPerS: 2 * BANDWIDTH }],
      bandwidthBytesPerS: BANDWIDTH,
      speedUp: SPEED,
      permitPostCopy: true,
    });
    const s = stub;
    const clock = stubClock(s);
    const config = ferryConfig(s, {}, {}, { dirtyMiBps: 1000 });
    const ports = {
      store: new MemoryStore(),
      approvals: new MemoryApprovals(),
      control: new MemoryControl(),
      audit: new MemoryAudit(),
      admission: new MemoryAdmissionGate(),
      campaigns: new MemoryCampaigns(),
      plans: new MemoryPlans(),
    };
    const process = () => {
      const driver = createNovaDriver(config, clock);
      drivers.push(driver);
      const engineConfig = { ...config, policy: policyForDriver(config.policy, driver) };
      return { driver, deps: runnerDeps(engineConfig, driver, clock, ports) };
    };
    const first = process();
    const launcher = { launch: async () => {}, cancel: async () => {} };
    const service = new EngineService({
      ...ports,
      config,
      driver: first.driver,
      launcher,
      clock,
      via: 'test',
    });
    const { id } = await service.evacuate({ source: 'cmp-1', requestedBy: 'U_ALICE', maintenance: false });
    // The first process dies right after it committed the switchover, with Nova in post-copy.
    const died = runEvacuation(id, {
      ...first.deps,
      onStep: async (e) => {
        if (e.migrations.some((m) => m.state === 'switching-over')) throw new Error('process died');
      },
    });
    runs.push(died);
    const deadline = Date.now() + 20_000;
    let approval: string | undefined;
    while (!approval && Date.now() < deadline) {
      approval = (await ports.store.events(id)).find((e) => e.type === 'approval.requested')?.approval?.id;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(approval).toBeDefined();
    await service.decide(approval!, 'approved', 'U_BOB');
    await expect(died).rejects.toThrow('process died');
    expect(s.migrationsOf('db-1').map((m) => m.status)).toEqual(['running (post-copy)']);

    const done = await runEvacuation(id, process().deps);
    expect(done.state).toBe('completed');
    expect(s.server('db-1')).toMatchObject({ host: 'cmp-2', status: 'ACTIVE' });
    expect(liveMigrateCalls(s).get(s.server('db-1').id)).toBe(1);
    expect(forceCompletes(s, 'db-1')).toBe(1);
    const events = await ports.store.events(id);
    const switched = events.findIndex((e) => e.type === 'migration.switchover');
    const after = ofType(events.slice(switched), 'migration.progress').map((e) => e.sample.status);
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(new Set(after)).toEqual(new Set(['postcopy-active']));
    expect(ofType(events, 'migration.completed')).toEqual([
      expect.objectContaining({ strategy: 'postcopy' }),
    ]);
    expect(ofType(events, 'migration.started')).toHaveLength(1);
  });

  it('a PAUSED server moves by pre-copy with no switchover offered, beside an ACTIVE one that needs one', async () => {
    const { stub, service, store, evacuate, waitFor } = await setup(
      [
        { name: 'db-1', host: 'cmp-1', ramMb: 1024, dirtyBytesPerS: 2 * BANDWIDTH },
        { name: 'frozen-1', host: 'cmp-1', ramMb: 1024, status: 'PAUSED', dirtyBytesPerS: 2 * BANDWIDTH },
      ],
      {},
      { nova: { dirtyMiBps: 1000 } },
    );
    const plan = await service.plan('cmp-1');
    const byName = new Map(plan.moves.map((m) => [m.instance, m]));
    expect(byName.get('db-1')?.prediction.strategy).toBe('postcopy');
    expect(byName.get('frozen-1')).toMatchObject({
      dirtyBytesPerS: 0,
      switchoverRefused: expect.stringMatching(/PAUSED/),
      prediction: expect.objectContaining({ strategy: 'precopy' }),
    });
    const { id, finished } = await evacuate(false);
    const asked = await waitFor(id, (events) => ofType(events, 'approval.requested')[0]?.approval);
    await service.decide(asked.id, 'approved', 'U_BOB');
    expect((await finished)?.state).toBe('completed');
    const events = await store.events(id);
    expect(ofType(events, 'approval.requested').map((e) => e.approval.instance)).toEqual(['db-1']);
    expect(forceCompletes(stub, 'frozen-1')).toBe(0);
    expect(ofType(of(events, 'frozen-1'), 'migration.completed')).toEqual([
      expect.objectContaining({ strategy: 'precopy' }),
    ]);
    expect(stub.server('frozen-1')).toMatchObject({ status: 'PAUSED' });
    expect(stub.server('frozen-1').host).not.toBe('cmp-1');
  });

  it('a down cell: the plan names its servers as blockers; its host cannot be drained now', async () => {
    stub = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }, { name: 'cmp-9', cell: 'cell2' }],
      servers: [
        { name: 'vm-1', host: 'cmp-1' },
        { name: 'far-1', host: 'cmp-9', id: '99999999-9999-4999-8999-999999999999' },
      ],
    });
    const s = stub;
    s.takeCellDown('cell2');
    const config = ferryConfig(s, {});
    const driver = createNovaDriver(config, stubClock(s));
    drivers.push(driver);
    const { service } = createLocalEngine({ config, driver, clock: stubClock(s) });
    const plan = await service.plan('cmp-1');
    expect(plan.moves.map((m) => m.instance)).toEqual(['vm-1']);
    expect(plan.blockers).toEqual([
      expect.objectContaining({ instance: '99999999-9999-4999-8999-999999999999', code: 'unreachable' }),
    ]);
    await expect(service.plan('cmp-9')).rejects.toThrow(
      /cmp-9 cannot be drained now: .*cell that does not answer/,
    );
    await expect(
      service.evacuate({ source: 'cmp-9', requestedBy: 'U_ALICE', maintenance: false }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('refuses, at startup, a config that asks the nova driver to run a maintenance command', async () => {
    stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }] });
    const s = stub;
    const withCommand = ferryConfig(s, {}, { maintenance: { command: 'apt-get -y upgrade' } });
    expect(() => createNovaDriver(withCommand, stubClock(s))).toThrow(ConfigError);
    expect(() => createNovaDriver(withCommand, stubClock(s))).toThrow(/maintenance\.command/);
    expect(() => createNovaDriver(ferryConfig(s, {}), stubClock(s))).not.toThrow();
  });
});
