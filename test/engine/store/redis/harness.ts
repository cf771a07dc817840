import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  createDurableEngine,
  type DurableEngine,
  type FerryConfig,
  parseConfig,
} from '../../../../src/engine/compose.js';
import { simClock } from '../../../../src/engine/drivers/sim/clock.js';
import { RemoteSimDriver } from '../../../../src/engine/drivers/sim/remote.js';
import type { Evacuation, FerryEvent } from '../../../../src/engine/model.js';
import { startRedis } from '../../../support/redis.js';
import { type Child, freshPrefix, ofType, spawnTs, until } from './support.js';

/**
 * Worker processes against one redis-server and a simulated fleet in its own process (the sim
 * server, sped up), with this test process as one more replica (an engine without a worker).
 */

const WORKER = 'test/processes/worker.ts';
const EVACUATE = 'test/processes/evacuate.ts';
const SIM = 'test/processes/sim-server.ts';

export interface Fixture {
  speed: number;
  /** The config file the processes read. */
  file: string;
  /** Where the sim server listens. */
  simUrl: string;
  sim: RemoteSimDriver;
  engine: DurableEngine;
  /** The config the engine and the workers run with (its `redis:` section points at the harness's Redis). */
  config: FerryConfig;
  /**
   * Starts a worker process named `name` (of the release whose tree is at `release`, else of
   * this one); resolves once it takes jobs.
   */
  worker(name: string, release?: string): Promise<Child>;
  /** Asks for an evacuation of `host` from a process (of `release`, else this one); resolves with its id. */
  evacuate(host: string, release?: string): Promise<string>;
}

/** Where the harness's Redis is: a single redis-server, or an HA set and its `redis:` config lines. */
export interface RedisBackend {
  url: string;
  /** Extra lines of the config's `redis:` section (sentinels, cluster). */
  yaml?: string;
  stop(): Promise<void>;
}

export class Harness {
  private readonly children: Child[] = [];
  private readonly engines: DurableEngine[] = [];

  private constructor(
    readonly redis: RedisBackend,
    private readonly dir: string,
  ) {}

  static async start(backend?: RedisBackend): Promise<Harness> {
    return new Harness(backend ?? (await startRedis()), mkdtempSync(join(tmpdir(), 'ferry-queue-')));
  }

  /** A sim server for `yaml`, a config file with a fresh key prefix, and an engine for the test. */
  async fixture(yaml: string, speed: number): Promise<Fixture> {
    const prefix = freshPrefix();
    const file = join(this.dir, `${prefix.replace(/[{}]/g, '')}.yaml`);
    const text = `${yaml}
redis:
  prefix: "${prefix}"
  worker: { lockDurationMs: 2000, stalledIntervalMs: 1000, concurrency: 2, backoffMs: 500 }
${this.redis.yaml ?? ''}
`;
    writeFileSync(file, text);
    const simChild = this.spawn(SIM, ['--config', file, '--speed', String(speed)]);
    const port = (await simChild.waitFor(/^listening \d+/)).split(' ')[1];
    const simUrl = `http://127.0.0.1:${port}`;
    const sim = new RemoteSimDriver({ url: simUrl });
    const parsed = parseConfig(text, file);
    const config = { ...parsed, redis: { ...parsed.redis!, url: this.redis.url } };
    const engine = createDurableEngine({
      config,
      driver: sim,
      clock: await simClock(sim, speed),
      via: 'slack',
      clockRate: speed,
    });
    this.engines.push(engine);
    const args = ['--config', file, '--redis', this.redis.url, '--sim-url', simUrl, '--speed', String(speed)];
    return {
      speed,
      file,
      simUrl,
      sim,
      engine,
      config,
      worker: async (name, release) => {
        const child = this.spawn(release ? join(release, WORKER) : WORKER, [...args, '--name', name]);
        await child.waitFor(/^ready /);
        return child;
      },
      evacuate: async (host, release) => {
        const child = this.spawn(EVACUATE, [
          ...args,
          '--host',
          host,
          ...(release ? ['--release', release] : []),
        ]);
        return (await child.waitFor(/^evacuation /)).split(' ')[1]!;
      },
    };
  }

  /** Closes engines and kills every process started since the last cleanup. */
  /** What the spawned processes wrote to stderr (their Redis and runner log lines). */
  workerLogs(): string {
    return this.children.map((c) => c.stderr()).join('\n----\n');
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.engines.splice(0).map((e) => e.close()));
    await Promise.all(this.children.splice(0).map((c) => c.kill('SIGKILL')));
  }

  async stop(): Promise<void> {
    await this.cleanup();
    await this.redis.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private spawn(file: string, args: string[]): Child {
    const child = spawnTs(file, args);
    this.children.push(child);
    return child;
  }
}

/** The `fleet:` section of a sim fleet: `names` as hosts(), then the instances' lines (vms(), or YAML lines). */
export const simFleet = (names: string[], ...instances: string[]) => `fleet:
  driver: sim
  hosts:
${hosts(names)}
  instances:
${instances.join('\n')}`;

export const hosts = (names: string[]) =>
  names.map((n) => `    - { name: ${n}, vcpus: 128, memoryGiB: 1024, nicGbps: 10 }`).join('\n');

export const vms = (host: string, count: number, memoryGiB: number, dirtyMiBps = 10) =>
  Array.from(
    { length: count },
    (_, i) =>
      `    - { name: ${host}-vm${String(i + 1).padStart(2, '0')}, host: ${host}, vcpus: 2, memoryGiB: ${memoryGiB}, dirtyMiBps: ${dirtyMiBps} }`,
  ).join('\n');

export async function finished(engine: DurableEngine, id: string, timeoutMs: number): Promise<Evacuation> {
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

/** Every started VM moved exactly once: one migration for it in the simulator, completed, the VM on its destination. */
export async function expectMovedOnce(sim: RemoteSimDriver, events: FerryEvent[]): Promise<void> {
  const snapshot = await sim.snapshot();
  for (const started of ofType(events, 'migration.started')) {
    const runs = snapshot.migrations.filter((m) => m.instance === started.instance);
    expect(runs, `${started.instance} migrations in the simulator`).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: started.migrationId, phase: 'completed', to: started.to });
    expect(snapshot.fleet.instances.find((i) => i.name === started.instance)?.host).toBe(started.to);
  }
}
