import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import type { MigrationHandle } from '../../../../src/engine/drivers/driver.js';
import { RemoteSimDriver } from '../../../../src/engine/drivers/sim/remote.js';
import { DriverRefusedError, MigrationLostError } from '../../../../src/engine/errors.js';
import type { ProgressSample } from '../../../../src/engine/model.js';
import { FINAL, tuning } from './support.js';

/**
 * The simulated fleet as its own process, the way a hypervisor outlives the worker that drives
 * it: a worker starts a migration and is killed; a new driver finds the migration by its id and
 * sees it complete. 8 GiB at a 1 Gb/s stream cap is about 70 simulated seconds: under 2 s of wall
 * time at 50× speed.
 */

const CONFIG = `
fleet:
  driver: sim
  hosts:
    - { name: hv1, vcpus: 32, memoryGiB: 256, nicGbps: 10 }
    - { name: hv2, vcpus: 32, memoryGiB: 256, nicGbps: 10 }
  instances:
    - { name: db-1, host: hv1, vcpus: 4, memoryGiB: 8, dirtyMiBps: 5 }
    - { name: web-1, host: hv1, vcpus: 2, memoryGiB: 2, dirtyMiBps: 5 }
    - { name: cache-1, host: hv1, vcpus: 2, memoryGiB: 128, dirtyMiBps: 5 }
policy:
  streamCapGbps: 1
`;

/** Runs a TypeScript entry point in a child Node process, and waits for a line matching `ready`. */
async function spawnTs(
  file: string,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += String(d);
  });
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    lines.on('line', (l) => {
      if (ready.test(l)) resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code}: ${stderr}`)));
  });
  return { child, line };
}

function stop(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

async function untilFinal(driver: RemoteSimDriver, handle: MigrationHandle): Promise<ProgressSample[]> {
  const samples: ProgressSample[] = [];
  for (let i = 0; i < 600; i++) {
    const s = await driver.sample(handle);
    samples.push(s);
    if (FINAL.includes(s.status)) return samples;
    await systemClock.sleep(50);
  }
  throw new Error(`still ${samples.at(-1)?.status} after 600 samples`);
}

describe('sim server in its own process', { timeout: 60_000 }, () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-sim-'));
    writeFileSync(join(dir, 'ferry.yaml'), CONFIG);
    const started = await spawnTs(
      'test/processes/sim-server.ts',
      ['--config', join(dir, 'ferry.yaml'), '--port', '0', '--speed', '50'],
      /^listening \d+$/,
    );
    server = started.child;
    url = `http://127.0.0.1:${started.line.split(' ')[1]}`;
  });

  afterAll(async () => {
    await stop(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps a migration running while its worker is dead; a new driver finds it by id and sees it complete', async () => {
    const request = { migrationId: 'evac-hv1:db-1', instance: 'db-1', from: 'hv1', to: 'hv2' };
    const worker = await spawnTs(
      'test/processes/start-and-wait.ts',
      [url, request.migrationId, request.instance, request.from, request.to],
      /^started /,
    );
    expect(worker.line).toBe('started active');
    await stop(worker.child, 'SIGKILL');

    const driver = new RemoteSimDriver({ url });
    const handle = await driver.start(request, tuning);
    expect(handle).toMatchObject(request);
    const samples = await untilFinal(driver, handle);
    expect(samples[0]!.status).toBe('active');
    expect(samples[0]!.transferredBytes).toBeGreaterThan(0);
    expect(samples.at(-1)).toMatchObject({ status: 'completed', remainingBytes: 0 });
    const fleet = await driver.inventory();
    expect(fleet.instances.find((i) => i.name === 'db-1')?.host).toBe('hv2');
    // One migration, started once, whoever asked.
    const snapshot = await driver.snapshot();
    expect(snapshot.migrations.filter((m) => m.instance === 'db-1')).toHaveLength(1);
    await driver.close();
  });

  it('hands a closed driver’s migration to a new one in the same process too', async () => {
    const request = { migrationId: 'evac-hv1:web-1', instance: 'web-1', from: 'hv1', to: 'hv2' };
    const first = new RemoteSimDriver({ url });
    const handle = await first.start(request, tuning);
    await first.close();
    await expect(first.sample(handle)).rejects.toThrow(/closed/);
    const second = new RemoteSimDriver({ url });
    expect(await second.start(request, tuning)).toEqual(handle);
    expect((await untilFinal(second, handle)).at(-1)?.status).toBe('completed');
  });

  it('preserves typed errors across the process boundary', async () => {
    const driver = new RemoteSimDriver({ url });
    const refused = driver.start({ migrationId: 'x:db-1', instance: 'db-1', from: 'hv2', to: 'hv9' }, tuning);
    await expect(refused).rejects.toBeInstanceOf(DriverRefusedError);
    await expect(refused).rejects.toThrow(/hv9 is not a host/);
    const missing = driver.sample({ migrationId: 'nope', instance: 'db-1', from: 'hv1', to: 'hv2' });
    // "No such migration" is its own error, not a transient one: asking again cannot help.
    await expect(missing).rejects.toBeInstanceOf(MigrationLostError);
    await expect(missing).rejects.toMatchObject({ code: 'MIGRATION_LOST', retryable: false });
    const precheck = await driver.precheck({
      migrationId: 'y:ghost',
      instance: 'ghost',
      from: 'hv1',
      to: 'hv2',
    });
    expect(precheck).toEqual({ ok: false, reasons: ['no instance ghost in the simulated fleet'] });
  });

  it('answers the samples asked for together in one request, each with its own sample or error', async () => {
    const driver = new RemoteSimDriver({ url });
    const request = { migrationId: 'evac-hv1:cache-1', instance: 'cache-1', from: 'hv1', to: 'hv2' };
    const handle = await driver.start(request, tuning);
    const fetches = vi.spyOn(globalThis, 'fetch');
    try {
      const [sample, missing] = await Promise.allSettled([
        driver.sample(handle),
        driver.sample({ migrationId: 'nope', instance: 'db-1', from: 'hv1', to: 'hv2' }),
      ]);
      expect(fetches).toHaveBeenCalledTimes(1);
      expect(String(fetches.mock.calls[0]![0])).toMatch(/\/op\/sample-many$/);
      expect(sample.status === 'fulfilled' && sample.value.status).toMatch(/^(setup|active)$/);
      expect(missing.status === 'rejected' && missing.reason).toBeInstanceOf(MigrationLostError);
    } finally {
      fetches.mockRestore();
    }
    await driver.abort(handle);
    await driver.close();
  });

  it('validates every request body', async () => {
    const res = await fetch(`${url}/op/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request: { migrationId: 'z', instance: 'db-1', from: 'hv1' }, tuning }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('INPUT_INVALID');
    expect(body.error.message).toMatch(/request\.to/);
  });

  it('says the server is unreachable once it is gone', async () => {
    const driver = new RemoteSimDriver({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });
    await expect(driver.inventory()).rejects.toMatchObject({ code: 'DRIVER_UNREACHABLE', retryable: true });
  });
});
