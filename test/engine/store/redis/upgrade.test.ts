import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_EVACUATION_STATES } from '../../../../src/engine/model.js';
import { Keys, SCHEMA_VERSION } from '../../../../src/engine/store/redis/index.js';
import { loadSchemaV1, schemaV1 } from './fixtures/schema-v1.js';
import { expectMovedOnce, finished, Harness, hosts } from './harness.js';
import { client, expectCompleteStream, ofType, until } from './support.js';

/**
 * A rolling upgrade mid-evacuation. The fixture is what a worker of the previous schema (records
 * without a version, no open index) left in Redis when it was stopped: an evacuation of hv1 paused
 * after two of six VMs had moved. Its job is queued again, as BullMQ does with a stopped worker's
 * job; a worker of this version takes it over, the operator resumes, that worker is stopped
 * (SIGTERM) with a migration running, and another one finishes: every VM moved once, the old
 * events kept first.
 */

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.stop();
});

// The fleet as the previous worker left it: the two VMs it moved are on their destinations.
const FLEET = `
timezone: UTC
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3'])}
  instances:
${Object.entries(schemaV1.placement)
  .map(([vm, host]) => `    - { name: ${vm}, host: ${host}, vcpus: 2, memoryGiB: 2, dirtyMiBps: 10 }`)
  .join('\n')}
policy:
  maxPerSource: 2
  streamCapGbps: 4
`;

describe('a rolling upgrade', () => {
  it('continues an evacuation a previous-schema worker left, across a worker restart', async () => {
    const f = await harness.fixture(FLEET, 1);
    const { prefix } = f.engine.store.keys;
    const redis = client(harness.redis.url);
    try {
      await loadSchemaV1(redis, prefix);
      const id = schemaV1.evacuationId;
      const before = await f.engine.store.events(id);
      await f.engine.launcher.launch(id, Date.now());

      const a = await f.worker('new-a');
      // The new worker marked the keyspace and indexed the evacuation the old one did not.
      expect(await redis.get(new Keys(prefix).schema())).toBe(String(SCHEMA_VERSION));
      expect((await f.engine.service.list()).map((e) => e.request.id)).toEqual([id]);
      expect((await f.engine.service.status(id)).state).toBe('paused');

      await f.engine.service.control(id, 'resume', 'U0ALICE');
      await until(
        async () => ofType(await f.engine.store.events(id, before.length), 'migration.started').length > 0,
        'a migration started by the new worker',
        30_000,
        50,
      );
      // Stopped as a service manager stops it: it hands the evacuation back at its next step and
      // exits, without waiting for the evacuation to end.
      await a.kill('SIGTERM');
      expect(a.process.exitCode).toBe(0);
      expect(FINAL_EVACUATION_STATES).not.toContain((await f.engine.service.status(id)).state);
      expect(a.stderr()).toContain(`${id}: handed over`);
      await f.worker('new-b');

      const ended = await finished(f.engine, id, 90_000);
      expect(ended.state).toBe('completed');
      expect(ended.migrations.map((m) => m.state)).toEqual(Array(6).fill('completed'));
      const events = await f.engine.store.events(id);
      expect(events.slice(0, before.length)).toEqual(before);
      expectCompleteStream(events);
      const after = events.slice(before.length);
      expect(
        ofType(after, 'migration.started')
          .map((e) => e.instance)
          .sort(),
      ).toEqual(
        Object.entries(schemaV1.placement)
          .filter(([, host]) => host === 'hv1')
          .map(([vm]) => vm),
      );
      await expectMovedOnce(f.sim, after);
      // Written by this version from now on; the host freed and the evacuation out of the open index.
      const stored = JSON.parse((await redis.get(new Keys(prefix).evacuation(id)))!);
      expect(stored.v).toBe(SCHEMA_VERSION);
      expect(await redis.get(new Keys(prefix).hostLock('hv1'))).toBeNull();
      expect(await f.engine.service.list()).toEqual([]);
    } finally {
      redis.disconnect();
      await harness.cleanup();
    }
  }, 180_000);
});
