import { rmSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { acceleratedClock, type Clock } from '../../../../src/engine/clock.js';
import { createDurableEngine, type DurableEngine } from '../../../../src/engine/compose.js';
import { defaultPolicy, type PolicyConfig } from '../../../../src/engine/config.js';
import { SimDriver } from '../../../../src/engine/drivers/sim/index.js';
import { ConflictError, ForbiddenError } from '../../../../src/engine/errors.js';
import { type Evacuation, type Fleet, GBPS, GiB, MiB } from '../../../../src/engine/model.js';
import {
  EVACUATION_QUEUE,
  LockLostError,
  redisConfigSchema,
} from '../../../../src/engine/store/redis/index.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { progress, sampleEvacuation } from './fixtures/sample.js';
import { client, expectCompleteStream, freshPrefix, ofType, until } from './support.js';

/**
 * The durable engine in one process: EngineService over the Redis ports, BullMQ running the
 * evacuations, the simulator on an accelerated clock. Two engines on one Redis are two replicas.
 */

const SPEED = 20;
const TUNING = { lockDurationMs: 2000, stalledIntervalMs: 1000, concurrency: 4, backoffMs: 200 };

function fleet(vms = 6): Fleet {
  const host = (name: string) => ({
    name,
    vcpus: 64,
    memoryBytes: 256 * GiB,
    nicBytesPerS: 10 * GBPS,
    labels: [],
    schedulable: true,
  });
  return {
    hosts: [host('hv1'), host('hv2'), host('hv3'), host('hv4')],
    instances: Array.from({ length: vms }, (_, i) => ({
      name: `vm-${i + 1}`,
      host: i % 2 === 0 ? 'hv1' : 'hv4',
      vcpus: 2,
      memoryBytes: 2 * GiB,
      migratable: true,
      dirtyBytesPerS: 10 * MiB,
    })),
  };
}

let server: RedisServer;
let redis: Redis;
const open: DurableEngine[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = client(server.url);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

interface Setup {
  clock: Clock;
  driver: SimDriver;
  policy: PolicyConfig;
  prefix: string;
  /** Another engine on the same Redis, with its own connection. */
  replica(): DurableEngine;
}

function setup(options: { policy?: Partial<PolicyConfig>; vms?: number; url?: string } = {}): Setup {
  const clock = acceleratedClock(SPEED);
  const policy = { ...defaultPolicy, streamCapGbps: 2, ...options.policy };
  const driver = new SimDriver({
    fleet: fleet(options.vms),
    clock,
    streamCapBytesPerS: policy.streamCapGbps * GBPS,
  });
  const prefix = freshPrefix();
  const url = options.url ?? server.url;
  const config = {
    policy,
    windows: [],
    timezone: 'UTC',
    maintenance: { reenable: true, timeoutS: 60 },
    redis: redisConfigSchema.parse({ url, prefix, worker: TUNING }),
  };
  return {
    clock,
    driver,
    policy,
    prefix,
    replica: () => {
      const engine = createDurableEngine({
        config,
        driver,
        clock,
        via: 'slack',
        clockRate: SPEED,
      });
      open.push(engine);
      return engine;
    },
  };
}

async function finished(engine: DurableEngine, id: string, timeoutMs = 30_000): Promise<Evacuation> {
  return until(
    async () => {
      const e = await engine.service.status(id);
      return ['completed', 'partial', 'failed', 'aborted', 'cancelled'].includes(e.state) && e;
    },
    `${id} to finish`,
    timeoutMs,
  );
}

describe('the durable engine', () => {
  it('runs an evacuation through the queue and releases the host at the end', async () => {
    const s = setup();
    const engine = s.replica();
    engine.startWorker();
    const { id } = await engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
    });
    expect((await finished(engine, id)).state).toBe('completed');
    const events = await engine.service.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.completed')).toHaveLength(3);
    expect((await s.driver.inventory()).instances.filter((i) => i.host === 'hv1')).toEqual([]);
    expect(await engine.store.holder('hv1')).toBeUndefined();
    expect((await engine.audit.entries()).map((e) => [e.who, e.action, e.target, e.via])).toEqual([
      ['U_ALICE', 'evacuate', id, 'slack'],
    ]);
  });

  it('refuses a second evacuation of a busy host, naming the running one', async () => {
    const s = setup();
    const a = s.replica();
    const b = s.replica();
    const first = await a.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    const second = b.service.evacuate({ source: 'hv1', requestedBy: 'U_BOB', maintenance: false });
    await expect(second).rejects.toBeInstanceOf(ConflictError);
    await expect(second).rejects.toThrow(`hv1 is already being evacuated by ${first.id}`);
    // Another host is free.
    await expect(
      b.service.evacuate({
        source: 'hv4',
        requestedBy: 'U_BOB',
        maintenance: false,
        when: { kind: 'in', ms: 3_600_000 },
      }),
    ).resolves.toMatchObject({ id: expect.stringMatching(/^evac-hv4-/) });
  });

  it('decides approvals first-wins, and never lets the requester approve', async () => {
    const s = setup();
    const a = s.replica();
    const b = s.replica();
    await a.approvals.request({
      id: 'evac-x:db-1:1',
      evacuationId: 'evac-x',
      migrationId: 'evac-x:db-1',
      instance: 'db-1',
      kind: 'postcopy',
      requestedBy: 'U_ALICE',
      requestedAt: s.clock.now(),
      expiresAt: s.clock.now() + 900_000,
      predictedDowntimeMs: 5,
      downtimeSloMs: 300,
      remainingBytes: GiB,
      dirtyBytesPerS: 900 * MiB,
      bandwidthBytesPerS: 250 * MiB,
      risk: 'a network failure during post-copy loses the guest',
    });
    await expect(a.service.decide('evac-x:db-1:1', 'approved', 'U_ALICE')).rejects.toBeInstanceOf(
      ForbiddenError,
    );
    const [bob, carol] = await Promise.all([
      a.service.decide('evac-x:db-1:1', 'approved', 'U_BOB'),
      b.service.decide('evac-x:db-1:1', 'rejected', 'U_CAROL'),
    ]);
    expect(bob).toEqual(carol);
    const standing = await b.service.approval('evac-x:db-1:1');
    expect(standing?.decision).toEqual(bob);
    // Only the decision that stood is audited as done; the self-approval and the later click as refused.
    const audited = (await a.audit.entries()).filter((e) => e.target === 'evac-x:db-1:1');
    expect(audited.filter((e) => !e.refused)).toEqual([
      expect.objectContaining({
        who: bob.decidedBy,
        action: bob.outcome === 'approved' ? 'approve' : 'reject',
      }),
    ]);
    const loser = bob.decidedBy === 'U_BOB' ? 'U_CAROL' : 'U_BOB';
    expect(audited.filter((e) => e.refused).map((e) => [e.who, e.refused])).toEqual([
      ['U_ALICE', 'you requested this migration: a second person must approve or reject it'],
      [loser, `already ${bob.outcome} by ${bob.decidedBy}`],
    ]);
  });

  it('obeys pause, resume and abort given through another replica', async () => {
    const s = setup({ policy: { maxPerSource: 1 }, vms: 12 });
    const runner = s.replica();
    const other = s.replica();
    runner.startWorker();
    const { id } = await runner.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
    });
    await until(async () => (await other.service.status(id)).state === 'draining', 'draining');
    await other.service.control(id, 'pause', 'U_BOB');
    await until(async () => (await other.service.status(id)).state === 'paused', 'paused');
    const startedWhilePaused = ofType(await other.service.events(id), 'migration.started').length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(ofType(await other.service.events(id), 'migration.started')).toHaveLength(startedWhilePaused);
    await other.service.control(id, 'resume', 'U_BOB');
    await until(
      async () => ofType(await other.service.events(id), 'migration.started').length > startedWhilePaused,
      'a migration after resume',
    );
    await other.service.control(id, 'abort', 'U_CAROL');
    expect((await finished(other, id)).state).toBe('aborted');
    const events = await other.service.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'evacuation.paused')[0]?.by).toBe('U_BOB');
    expect(ofType(events, 'host.enabled')).toHaveLength(1);
    expect(await runner.store.holder('hv1')).toBeUndefined();
  });

  it('holds a scheduled evacuation as a delayed job; aborting it withdraws the job and frees the host', async () => {
    const s = setup();
    const engine = s.replica();
    engine.startWorker();
    const { id, startsAt } = await engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    expect(startsAt).toBeGreaterThan(s.clock.now());
    expect((await engine.service.status(id)).state).toBe('scheduled');
    expect(await (await engine.launcher.job(id))?.getState()).toBe('delayed');
    await engine.service.control(id, 'abort', 'U_BOB');
    expect(await engine.launcher.job(id)).toBeUndefined();
    expect((await engine.service.status(id)).state).toBe('cancelled');
    expect(await engine.store.holder('hv1')).toBeUndefined();
    // Rescheduling is cancel + launch: the job comes back delayed to the new time.
    await engine.launcher.cancel(id);
    await engine.launcher.launch(id, s.clock.now() + 7_200_000);
    const job = await engine.launcher.job(id);
    expect(await job?.getState()).toBe('delayed');
    expect(job?.delay).toBeGreaterThan(7_200_000 / SPEED - 1000);
  });

  it('starts a scheduled evacuation on time', async () => {
    const s = setup();
    const engine = s.replica();
    engine.startWorker();
    const { id, startsAt } = await engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 20_000 },
    });
    const done = await finished(engine, id);
    expect(done.state).toBe('completed');
    expect(done.startedAt).toBeGreaterThanOrEqual(startsAt);
  });

  it('runs several evacuations at once on one worker', async () => {
    const s = setup({ policy: { maxPerSource: 1 } });
    const engine = s.replica();
    engine.startWorker();
    const a = await engine.service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    const b = await engine.service.evacuate({ source: 'hv4', requestedBy: 'U_ALICE', maintenance: false });
    await until(async () => {
      const states = await Promise.all(
        [a.id, b.id].map(async (id) => (await engine.service.status(id)).state),
      );
      return states.every((st) => st === 'draining');
    }, 'both draining at once');
    expect((await finished(engine, a.id)).state).toBe('completed');
    expect((await finished(engine, b.id)).state).toBe('completed');
  });
});

describe('the worker', () => {
  it('stops a runner whose job another worker took over: its commits are refused from then on', async () => {
    const s = setup();
    const engine = s.replica();
    await engine.store.commit({ evacuation: sampleEvacuation('e1') });
    let failure: unknown;
    engine.launcher.startWorker({
      driver: s.driver,
      store: engine.store,
      approvals: engine.approvals,
      control: engine.control,
      clock: s.clock,
      policy: s.policy,
      // A runner that commits a step every 50 ms, forever.
      run: async (id, deps) => {
        try {
          for (;;) {
            await deps.store.commit({ events: [progress(id, 'vm-1', s.clock.now())] });
            await deps.onStep?.(sampleEvacuation(id));
            await new Promise((r) => setTimeout(r, 50));
          }
        } catch (err) {
          failure = err;
          throw err;
        }
      },
    });
    await engine.launcher.launch('e1', s.clock.now());
    await until(async () => (await engine.store.eventCount('e1')) >= 3, 'a few steps');
    // What a stalled-job takeover does: the lock now names another worker's token.
    await redis.set(engine.store.keys.jobLock(EVACUATION_QUEUE, 'e1'), 'another-worker');
    await until(async () => failure, 'the runner to stop');
    expect(failure).toBeInstanceOf(LockLostError);
    const count = await engine.store.eventCount('e1');
    await new Promise((r) => setTimeout(r, 300));
    expect(await engine.store.eventCount('e1')).toBe(count);
  });
});

describe('a Redis restart', () => {
  let persistent: RedisServer | undefined;

  afterAll(async () => {
    await persistent?.stop();
    if (persistent) rmSync(persistent.dir, { recursive: true, force: true });
  });

  it('is survived: with the append-only file the evacuation finishes with a complete stream', async () => {
    persistent = await startRedis({ persistence: true });
    const { port, dir } = persistent;
    const s = setup({ url: persistent.url, policy: { maxPerSource: 1 }, vms: 8 });
    const engine = s.replica();
    engine.startWorker();
    const { id } = await engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
    });
    await until(
      async () => ofType(await engine.service.events(id), 'migration.completed').length >= 1,
      'a first migration',
    );
    const before = await engine.service.events(id);
    const exited = new Promise((r) => persistent!.process.once('exit', r));
    persistent.process.kill('SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 1000));
    persistent = await startRedis({ persistence: true, port, dir });
    const done = await finished(engine, id, 60_000);
    expect(done.state).toBe('completed');
    const events = await engine.service.events(id);
    expect(events.slice(0, before.length)).toEqual(before);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.completed')).toHaveLength(4);
  });
});
