import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/engine/config.js';
import { RemoteSimDriver } from '../../../src/engine/drivers/sim/remote.js';
import type { FerryEvent } from '../../../src/engine/model.js';
import { createDurableEngine, type DurableEngine } from '../../../src/engine/queue/index.js';
import { simClock } from '../../../src/engine/queue/sim-clock.js';
import { type RedisServer, startRedis } from '../../support/redis.js';
import { type Child, expectCompleteStream, freshPrefix, ofType, spawnTs, until } from './support.js';

/**
 * Worker processes against one Redis and a simulated fleet in its own process (the sim server,
 * sped up): what happens when workers restart, share the queue, and are SIGKILLed mid-evacuation.
 */

const WORKER = 'src/engine/queue/worker-main.ts';
const SIM = 'src/engine/drivers/sim/server-main.ts';

let server: RedisServer;
let dir: string;
const children: Child[] = [];
const engines: DurableEngine[] = [];

beforeAll(async () => {
  server = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'ferry-queue-'));
});

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Fixture {
  speed: number;
  simUrl: string;
  sim: RemoteSimDriver;
  engine: DurableEngine;
  /** Starts a worker process named `name`; resolves once it takes jobs. */
  worker(name: string): Promise<Child>;
}

/** A sim server for `yaml`, a config file with a fresh key prefix, and this test's engine (no worker). */
async function fixture(yaml: string, speed: number): Promise<Fixture> {
  const prefix = freshPrefix();
  const file = join(dir, `${prefix.replace(/[{}]/g, '')}.yaml`);
  const text = `${yaml}
redis:
  prefix: "${prefix}"
  worker: { lockDurationMs: 2000, stalledIntervalMs: 1000, concurrency: 2, backoffMs: 500 }
`;
  writeFileSync(file, text);
  const simChild = spawnTs(SIM, ['--config', file, '--speed', String(speed)]);
  children.push(simChild);
  const port = (await simChild.waitFor(/^listening \d+/)).split(' ')[1];
  const simUrl = `http://127.0.0.1:${port}`;
  const sim = new RemoteSimDriver({ url: simUrl });
  const config = parseConfig(text, file);
  const engine = createDurableEngine({
    config: { ...config, redis: { ...config.redis!, url: server.url } },
    driver: sim,
    clock: await simClock(sim, speed),
    via: 'slack',
    clockRate: speed,
  });
  engines.push(engine);
  return {
    speed,
    simUrl,
    sim,
    engine,
    worker: async (name) => {
      const child = spawnTs(WORKER, [
        '--config',
        file,
        '--redis',
        server.url,
        '--sim-url',
        simUrl,
        '--speed',
        String(speed),
        '--name',
        name,
      ]);
      children.push(child);
      await child.waitFor(/^ready /);
      return child;
    },
  };
}

const hosts = (names: string[]) =>
  names.map((n) => `    - { name: ${n}, vcpus: 128, memoryGiB: 1024, nicGbps: 10 }`).join('\n');

const vms = (host: string, count: number, memoryGiB: number, name = host) =>
  Array.from(
    { length: count },
    (_, i) =>
      `    - { name: ${name}-vm${String(i + 1).padStart(2, '0')}, host: ${host}, vcpus: 2, memoryGiB: ${memoryGiB}, dirtyMiBps: 10 }`,
  ).join('\n');

async function finished(engine: DurableEngine, id: string, timeoutMs: number) {
  return until(
    async () => {
      const e = await engine.service.status(id);
      return ['completed', 'partial', 'failed', 'aborted', 'cancelled'].includes(e.state) && e;
    },
    `${id} to finish`,
    timeoutMs,
    200,
  );
}

/** Every VM of the plan moved exactly once: one migration per instance in the sim, completed, VM on its destination. */
async function expectMovedOnce(sim: RemoteSimDriver, events: FerryEvent[]) {
  const snapshot = await sim.snapshot();
  for (const started of ofType(events, 'migration.started')) {
    const runs = snapshot.migrations.filter((m) => m.instance === started.instance);
    expect(runs, `${started.instance} migrations in the simulator`).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: started.migrationId, phase: 'completed', to: started.to });
    expect(snapshot.fleet.instances.find((i) => i.name === started.instance)?.host).toBe(started.to);
  }
}

const SMALL_FLEET = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3', 'hv4', 'hv5', 'hv6'])}
  instances:
${vms('hv1', 2, 2)}
${vms('hv2', 2, 2)}
${vms('hv3', 2, 2)}
${vms('hv4', 2, 2)}
policy:
  streamCapGbps: 2
  maxPerSource: 1
`;

describe('worker processes', { timeout: 60_000 }, () => {
  it('fire a scheduled evacuation after the worker process restarts', async () => {
    const f = await fixture(SMALL_FLEET, 10);
    const first = await f.worker('w1');
    const { id, startsAt } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 2000 * f.speed },
    });
    expect((await f.engine.service.status(id)).state).toBe('scheduled');
    await first.kill('SIGKILL');
    // The start passes with no worker alive; the delayed job waits in Redis.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await f.engine.service.status(id)).state).toBe('scheduled');
    const second = await f.worker('w2');
    await second.waitFor(new RegExp(`^ran ${id} completed`), 30_000);
    const done = await f.engine.service.status(id);
    expect(done.startedAt).toBeGreaterThanOrEqual(startsAt);
    expect((await f.engine.launcher.job(id))?.processedBy).toBe('w2');
    const events = await f.engine.service.events(id);
    expectCompleteStream(events);
    await expectMovedOnce(f.sim, events);
  });

  it('share one queue: two workers split several evacuations between them', async () => {
    const f = await fixture(SMALL_FLEET, 10);
    const [a, b] = await Promise.all([f.worker('w1'), f.worker('w2')]);
    const ids: string[] = [];
    for (const source of ['hv1', 'hv2', 'hv3', 'hv4'])
      ids.push((await f.engine.service.evacuate({ source, requestedBy: 'U_ALICE', maintenance: false })).id);
    for (const id of ids) expect((await finished(f.engine, id, 45_000)).state).toBe('completed');
    const by = await Promise.all(ids.map(async (id) => (await f.engine.launcher.job(id))?.processedBy));
    // Each worker runs at most 2 at once (concurrency 2): neither can have taken all four.
    expect(new Set(by)).toEqual(new Set(['w1', 'w2']));
    const ran = [...a.lines, ...b.lines].filter((l) => l.startsWith('ran ')).map((l) => l.split(' ')[1]);
    expect(ran.sort()).toEqual([...ids].sort());
    for (const id of ids) expectCompleteStream(await f.engine.service.events(id));
  });
});
