import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FINAL_EVACUATION_STATES } from '../../../../src/engine/model.js';
import { Keys, SCHEMA_VERSION } from '../../../../src/engine/store/redis/index.js';
import { RECORD_VERSIONS } from '../../../../src/engine/store/redis/version.js';
import { checkoutRelease, type Release } from '../../../support/release.js';
import { expectMovedOnce, finished, Harness, simFleet, vms } from './harness.js';
import { client, expectCompleteStream, ofType, until } from './support.js';

/**
 * A rolling upgrade mid-evacuation, with the previous release's own code: its worker (and its
 * engine, asking for the evacuations) run from this repository's history, the last commit before
 * records carried schema versions. It drains hv1 and finishes a small drain of hv4; stopped
 * mid-evacuation as that release must be stopped to hand over (SIGKILL: on SIGTERM it runs its
 * evacuations to their end), a worker of this version takes over, marks the keyspace, indexes
 * the evacuation and gives the one the old worker ended its retention; stopped with SIGTERM in
 * turn mid-migration, it hands over to another, which finishes: every VM moved once, the old
 * release's events kept first.
 */

/** The previous release: the parent of 4a862fa, which added schema versions. */
const PREVIOUS = 'b72a3ed5a55d6e15b4b8836dbda8567c88d0d752';

let harness: Harness;
let release: Release;

beforeAll(async () => {
  release = checkoutRelease(PREVIOUS);
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.stop();
  release?.remove();
});

const FLEET = `
timezone: UTC
${simFleet(['hv1', 'hv2', 'hv3', 'hv4'], vms('hv1', 6, 2), vms('hv4', 1, 1))}
policy:
  maxPerSource: 2
  streamCapGbps: 4
`;

describe('a rolling upgrade', () => {
  it('continues an evacuation the previous release’s worker was running, across a worker restart', async () => {
    const f = await harness.fixture(FLEET, 1);
    const keys = new Keys(f.engine.store.keys.prefix);
    const redis = client(harness.redis.url);
    try {
      const old = await f.worker('old', release.root);
      const id = await f.evacuate('hv1', release.root);
      const small = await f.evacuate('hv4', release.root);

      // The old worker ends the small drain and is mid-way through hv1.
      await until(
        async () => FINAL_EVACUATION_STATES.includes((await f.engine.service.status(small)).state),
        'the previous release to end the drain of hv4',
        60_000,
        100,
      );
      await until(
        async () => {
          const events = await f.engine.store.events(id);
          const done = ofType(events, 'migration.completed').length;
          return done >= 2 && ofType(events, 'migration.started').length > done;
        },
        'the previous release to move two VMs of hv1 and run a third',
        60_000,
        50,
      );
      // What the previous release wrote: records without a version, no keyspace mark, no open
      // index, an ended evacuation that never expires.
      expect(JSON.parse((await redis.get(keys.evacuation(id)))!).v).toBeUndefined();
      expect(await redis.get(keys.schema())).toBeNull();
      expect(await redis.exists(keys.openEvacuations())).toBe(0);
      expect(await redis.pttl(keys.evacuation(small))).toBe(-1);

      await old.kill('SIGKILL');
      expect(FINAL_EVACUATION_STATES).not.toContain((await f.engine.service.status(id)).state);
      const before = await f.engine.store.events(id);

      const a = await f.worker('new-a');
      // The new worker marked the keyspace, indexed the open evacuation and gave the ended one
      // its retention (with everything it left).
      expect(await redis.get(keys.schema())).toBe(String(SCHEMA_VERSION));
      expect(await redis.smembers(keys.openEvacuations())).toEqual([id]);
      for (const key of [keys.evacuation(small), keys.events(small), keys.migration(`${small}:hv4-vm01`)])
        expect(await redis.pttl(key), key).toBeGreaterThan(0);

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
      // Each VM of hv1 started once, whichever release started it.
      expect(
        ofType(events, 'migration.started')
          .map((e) => e.instance)
          .sort(),
      ).toEqual(Array.from({ length: 6 }, (_, i) => `hv1-vm0${i + 1}`));
      await expectMovedOnce(f.sim, events);
      // Written by this version from now on; the host freed and the evacuation out of the open index.
      expect(JSON.parse((await redis.get(keys.evacuation(id)))!).v).toBe(RECORD_VERSIONS.evacuation);
      expect(await redis.get(keys.hostLock('hv1'))).toBeNull();
      expect(await f.engine.service.list()).toEqual([]);
    } finally {
      redis.disconnect();
      await harness.cleanup();
    }
  }, 240_000);
});
