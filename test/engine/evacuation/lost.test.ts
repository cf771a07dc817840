import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLocalEngine, parseConfig } from '../../../src/engine/compose.js';
import { simClock } from '../../../src/engine/drivers/sim/clock.js';
import { RemoteSimDriver } from '../../../src/engine/drivers/sim/remote.js';
import type { FerryEvent } from '../../../src/engine/model.js';
import { type Child, ofType, spawnTs, until } from '../store/redis/support.js';

/**
 * A migration the driver no longer knows, through the whole engine: the simulated fleet runs in
 * its own process, which is SIGKILLed mid-migration and started again on the same port from a
 * config saying where the VM is now (on its source as after a reboot, already on its
 * destination, or nowhere). The engine gets "no such migration" from then on, and must end the
 * migration with what the inventory says, after the configured bound, instead of sampling it
 * for ever.
 */

const SPEED = 20;
const SIM = 'test/processes/sim-server.ts';

const config = (db1Host: string | undefined, policy: string) => `
fleet:
  driver: sim
  hosts:
    - { name: hv1, vcpus: 32, memoryGiB: 256, nicGbps: 10 }
    - { name: hv2, vcpus: 32, memoryGiB: 256, nicGbps: 10 }
  instances:
${db1Host ? `    - { name: db-1, host: ${db1Host}, vcpus: 4, memoryGiB: 32, dirtyMiBps: 5 }` : ''}
    - { name: spare, host: hv2, vcpus: 1, memoryGiB: 1 }
policy:
  streamCapGbps: 1
${policy}
`;

let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-lost-'));
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function simServer(name: string, yaml: string, port = 0): Promise<{ child: Child; port: number }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  const child = spawnTs(SIM, ['--config', file, '--port', String(port), '--speed', String(SPEED)]);
  children.push(child);
  const line = await child.waitFor(/^listening \d+$/);
  return { child, port: Number(line.split(' ')[1]) };
}

/**
 * Evacuates hv1 (db-1, 32 GiB at 1 Gb/s: about 5 simulated minutes, 15 s of wall time), kills the
 * sim server once db-1's migration runs, starts it again from `after`, and returns the
 * evacuation's events once it has ended, with the engine's log.
 */
async function loseTheMigration(
  name: string,
  after: string,
  policy: string,
  then?: (engine: ReturnType<typeof createLocalEngine>, id: string) => Promise<void>,
) {
  const before = await simServer(`${name}-before`, config('hv1', policy));
  const url = `http://127.0.0.1:${before.port}`;
  const driver = new RemoteSimDriver({ url, timeoutMs: 2000 });
  const log: string[] = [];
  const engine = createLocalEngine({
    config: parseConfig(config('hv1', policy), `${name}.yaml`),
    driver,
    clock: await simClock(driver, SPEED),
    log: (line) => log.push(line),
  });
  const { id } = await engine.service.evacuate({
    source: 'hv1',
    requestedBy: 'U_ALICE',
    reason: 'firmware',
    maintenance: false,
    when: { kind: 'now' },
  });
  await until(
    async () => ofType(await engine.service.events(id), 'migration.progress').length > 0,
    'db-1 to be migrating',
    20_000,
  );
  await before.child.kill('SIGKILL');
  await simServer(`${name}-after`, after, before.port);
  await then?.(engine, id);
  const events: FerryEvent[] = await until(
    async () => {
      const all = await engine.service.events(id);
      return ofType(all, 'evacuation.finished').length > 0 && all;
    },
    `${id} to end after its migration was lost`,
    30_000,
    100,
  ).catch((err) => {
    throw new Error(`${err.message}; engine log:\n${log.slice(-20).join('\n')}`);
  });
  return { engine, id, events, log, driver };
}

const LOST = /no simulated migration/;

describe('a migration the simulator lost in a restart', { timeout: 90_000 }, () => {
  it('ends failed when the VM is running on its source, after the configured number of answers', async () => {
    const { engine, id, events, log } = await loseTheMigration(
      'source',
      config('hv1', ''),
      '  lostMigrationAnswers: 3\n  lostMigrationS: 3600',
    );
    const [failed] = ofType(events, 'migration.failed');
    expect(failed).toMatchObject({
      instance: 'db-1',
      cause: 'the VM is running on its source; the migration was lost',
    });
    expect(ofType(events, 'migration.completed')).toEqual([]);
    expect(ofType(events, 'evacuation.finished')[0]).toMatchObject({
      state: 'failed',
      stayed: [expect.objectContaining({ instance: 'db-1', code: 'migration-failed' })],
    });
    // Three answers counted (the first two waited), then reconciled: never sampled for ever.
    const lostLines = log.filter((l) => LOST.test(l));
    expect(lostLines.filter((l) => /of 3 answers/.test(l)).map((l) => l.match(/\((\d) of 3/)?.[1])).toEqual([
      '1',
      '2',
    ]);
    expect(lostLines.at(-1)).toMatch(/reconciled: failed/);
    expect((await engine.service.status(id)).migrations[0]).toMatchObject({
      state: 'failed',
      cause: 'the VM is running on its source; the migration was lost',
    });
    // The host is free for the next evacuation: the lost migration's end ended the lifecycle.
    expect(await engine.store.holder('hv1')).toBeUndefined();
  });

  it('ends aborted when an operator aborted it and the VM is on its source', async () => {
    const { events } = await loseTheMigration(
      'aborted',
      config('hv1', ''),
      '  lostMigrationAnswers: 3',
      // The abort reaches a driver with nothing to cancel: it must not be retried for ever either.
      (engine, id) => engine.service.control(id, 'abort', 'U_ALICE'),
    );
    expect(ofType(events, 'migration.aborted')).toEqual([
      expect.objectContaining({
        instance: 'db-1',
        cause: 'the VM is running on its source; the migration was lost',
      }),
    ]);
    expect(ofType(events, 'evacuation.finished')[0]!.state).toBe('aborted');
  });

  it('ends completed, saying why, when the VM runs on its destination', async () => {
    const { engine, id, events, driver } = await loseTheMigration(
      'destination',
      config('hv2', ''),
      '  lostMigrationAnswers: 2',
    );
    const [completed] = ofType(events, 'migration.completed');
    expect(completed).toMatchObject({ instance: 'db-1' });
    expect(completed!.cause).toMatch(
      /no longer knew the migration; the VM is running on its destination hv2/,
    );
    expect(ofType(events, 'migration.failed')).toEqual([]);
    expect((await engine.service.status(id)).state).toBe('completed');
    expect((await driver.inventory()).instances.find((i) => i.name === 'db-1')?.host).toBe('hv2');
  });

  it('fails loudly when the VM is nowhere, after the configured time', async () => {
    const { events, log } = await loseTheMigration(
      'nowhere',
      config(undefined, ''),
      // Answers never reach the bound here: the 15 simulated seconds do.
      '  lostMigrationAnswers: 1000\n  lostMigrationS: 15',
    );
    const [failed] = ofType(events, 'migration.failed');
    expect(failed!.cause).toMatch(
      /^the migration was lost and db-1 is on neither hv1 nor hv2 \(the sim inventory lists no instance db-1\): it may be down; find it before anything else$/,
    );
    // The time bound ended it, not the answers: it failed at least 15 simulated seconds after the
    // last progress before the loss, having counted far fewer than 1000 answers (how many depends
    // on how fast the engine stepped, which a loaded machine slows).
    const lastProgress = ofType(events, 'migration.progress').at(-1)!;
    expect(failed!.at - lastProgress.at).toBeGreaterThanOrEqual(15_000);
    const counted = log.filter((l) => /of 1000 answers/.test(l)).length;
    expect(counted).toBeGreaterThanOrEqual(1);
    expect(counted).toBeLessThan(100);
    expect(ofType(events, 'evacuation.finished')[0]!.state).toBe('failed');
  });
});
