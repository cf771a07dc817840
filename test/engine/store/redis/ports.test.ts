import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '../../../../src/engine/model.js';
import { redisConfigSchema } from '../../../../src/engine/store/redis/config.js';
import {
  LockLostError,
  RedisAdmissionGate,
  RedisApprovals,
  RedisAudit,
  RedisControl,
  RedisStore,
  StoredStateError,
} from '../../../../src/engine/store/redis/index.js';
import { Keys } from '../../../../src/engine/store/redis/keys.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { progress, sampleEvacuation, sampleRecord } from './fixtures/sample.js';
import { client, freshPrefix, spawnTs } from './support.js';

/** The Redis ports on a real redis-server: what the engine relies on when processes die or race. */

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = client(server.url);
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

describe('RedisAdmissionGate', () => {
  it('lets one evacuation admit at a time across clients, and outlives a holder that died', async () => {
    const prefix = freshPrefix();
    const gates = [new RedisAdmissionGate(redis, prefix), new RedisAdmissionGate(client(server.url), prefix)];
    let inside = 0;
    let most = 0;
    const section = async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((r) => setTimeout(r, 20));
      inside--;
    };
    await Promise.all(Array.from({ length: 10 }, (_, i) => gates[i % 2]!.exclusive(section)));
    expect(most).toBe(1);

    // A holder that never released (its process was killed) blocks only until the lock expires.
    await redis.set(new Keys(prefix).admission(), 'dead-holder', 'PX', 300);
    const short = new RedisAdmissionGate(redis, prefix, { waitMs: 5_000 });
    const started = Date.now();
    await short.exclusive(async () => {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('RedisStore', () => {
  it('knows which migrations are on the links, across evacuations', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const state = (r: ReturnType<typeof sampleRecord>, s: 'pending' | 'running' | 'completed') => ({
      ...r,
      migration: { ...r.migration, state: s },
    });
    await store.commit({
      migrations: [
        state(sampleRecord('e1', 'a'), 'running'),
        state(sampleRecord('e1', 'b'), 'pending'),
        state(sampleRecord('e2', 'c'), 'running'),
      ],
    });
    const ids = async () => (await store.activeMigrations()).map((r) => r.migration.id).sort();
    expect(await ids()).toEqual(['e1:a', 'e2:c']);
    await store.commit({ migrations: [state(sampleRecord('e1', 'a'), 'completed')] });
    expect(await ids()).toEqual(['e2:c']);
    // A runner step reads its records in one round trip, in the order asked.
    const loaded = await store.loadMigrations(['e2:c', 'e1:missing', 'e1:a']);
    expect(loaded.map((r) => r.migration.id)).toEqual(['e2:c', 'e1:a']);
  });

  it('appends events in order and reads them from any count on', async () => {
    const store = new RedisStore(redis, freshPrefix());
    await store.commit({
      evacuation: sampleEvacuation('e1'),
      events: [progress('e1', 'a', 1), progress('e1', 'a', 2)],
    });
    await store.commit({ events: [progress('e1', 'a', 3)] });
    await store.commit({ events: [progress('e1', 'a', 4), progress('e1', 'a', 5)] });
    expect((await store.events('e1')).map((e) => e.at)).toEqual([1, 2, 3, 4, 5]);
    expect((await store.events('e1', 3)).map((e) => e.at)).toEqual([4, 5]);
    expect(await store.events('e1', 5)).toEqual([]);
    expect(await store.eventCount('e1')).toBe(5);
    // The n-th event is entry `n-0`: the count is the position, not a scan.
    const ids = (await redis.xrange(`${store.keys.events('e1')}`, '-', '+')).map(([id]) => id);
    expect(ids).toEqual(['1-0', '2-0', '3-0', '4-0', '5-0']);
  });

  it('round-trips evacuations and migration records, and lists evacuations newest first', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const record = sampleRecord('e1', 'vm-1', 7);
    await store.commit({ evacuation: sampleEvacuation('e1'), migrations: [record] });
    await store.commit({ evacuation: sampleEvacuation('e2') });
    // Re-writing an evacuation keeps its place in the list.
    await store.commit({ evacuation: sampleEvacuation('e1', 'paused') });
    expect(await store.loadMigration('e1:vm-1')).toEqual(record);
    expect(await store.loadEvacuation('e1')).toEqual(sampleEvacuation('e1', 'paused'));
    expect(await store.loadEvacuation('nope')).toBeUndefined();
    expect((await store.listEvacuations()).map((e) => e.request.id)).toEqual(['e2', 'e1']);
  });

  it('keeps a migration’s chart trace with its record, and refuses a malformed one', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const record = sampleRecord('e1', 'vm-1', 3);
    record.migration.trace = {
      stepMs: 2000,
      points: [
        [1000, 8e9, 1e9],
        [3000, 6e9, 1e9],
        [3500, 0, 2e9],
      ],
    };
    await store.commit({ evacuation: sampleEvacuation('e1'), migrations: [record] });
    expect((await store.loadMigration('e1:vm-1'))?.migration.trace).toEqual(record.migration.trace);
    const key = store.keys.migration('e1:vm-1');
    const stored = JSON.parse((await redis.get(key))!);
    stored.migration.trace.points[0] = [1000, 'lots'];
    await redis.set(key, JSON.stringify(stored));
    await expect(store.loadMigration('e1:vm-1')).rejects.toBeInstanceOf(StoredStateError);
  });

  it('keeps concurrent commits whole: each one lands as one contiguous block, no gaps', async () => {
    const store = new RedisStore(redis, freshPrefix());
    await Promise.all(
      Array.from({ length: 40 }, (_, writer) =>
        store.commit({ events: [1, 2, 3].map((n) => progress('e1', `w${writer}`, n)) }),
      ),
    );
    const events = await store.events('e1');
    expect(events).toHaveLength(120);
    for (let i = 0; i < 120; i += 3) {
      const block = events.slice(i, i + 3);
      expect(new Set(block.map((e) => (e.type === 'migration.progress' ? e.instance : '?'))).size).toBe(1);
      expect(block.map((e) => e.at)).toEqual([1, 2, 3]);
    }
  });

  it('writes nothing of a commit that cannot be completed', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore(redis, prefix);
    await redis.set(store.keys.events('e1'), 'not a stream');
    await expect(
      store.commit({ migrations: [sampleRecord('e1', 'vm-1')], events: [progress('e1', 'vm-1', 1)] }),
    ).rejects.toThrow(/WRONGTYPE|stream/);
    expect(await store.loadMigration('e1:vm-1')).toBeUndefined();
  });

  it('applies a commit re-sent after a lost reply once', async () => {
    const store = new RedisStore(redis, freshPrefix(), undefined, () => 'commit-1');
    await store.commit({ events: [progress('e1', 'vm-1', 1)] });
    await store.commit({ events: [progress('e1', 'vm-1', 1)] });
    expect(await store.eventCount('e1')).toBe(1);
  });

  it('refuses a fenced commit once the job lock is held by someone else, writing nothing', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const lock = store.keys.jobLock('evacuations', 'e1');
    await redis.set(lock, 'token-a');
    const mine = store.fenced({ key: lock, token: 'token-a', evacuationId: 'e1' });
    await mine.commit({ events: [progress('e1', 'vm-1', 1)] });
    await redis.set(lock, 'token-b');
    await expect(
      mine.commit({ migrations: [sampleRecord('e1', 'vm-1')], events: [progress('e1', 'vm-1', 2)] }),
    ).rejects.toBeInstanceOf(LockLostError);
    expect(await store.eventCount('e1')).toBe(1);
    expect(await store.loadMigration('e1:vm-1')).toBeUndefined();
  });

  it('sends the commits that arrive together as one script; a fenced one writes nothing, the others stand', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const lock = (id: string) => store.keys.jobLock('evacuations', id);
    await redis.set(lock('e1'), 'token-1');
    await redis.set(lock('e2'), 'taken-over');
    const mine = (id: string) => store.fenced({ key: lock(id), token: 'token-1', evacuationId: id });
    await redis.set(lock('e3'), 'token-1');
    const scripts = async () => {
      const stats = await redis.info('commandstats');
      return (
        Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0) +
        Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0)
      );
    };
    const before = await scripts();
    const results = await Promise.allSettled(
      ['e1', 'e2', 'e3'].map((id) =>
        mine(id).commit({ migrations: [sampleRecord(id, 'vm-1')], events: [progress(id, 'vm-1', 1)] }),
      ),
    );
    expect(await scripts()).toBe(before + 1);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(LockLostError);
    expect(await store.eventCount('e1')).toBe(1);
    expect(await store.eventCount('e2')).toBe(0);
    expect(await store.loadMigration('e2:vm-1')).toBeUndefined();
    expect((await store.loadMigration('e3:vm-1'))?.migration.id).toBe('e3:vm-1');
    // Two commits of one evacuation in one batch append in order, without a gap.
    await Promise.all([1, 2].map((at) => mine('e1').commit({ events: [progress('e1', 'vm-1', at + 1)] })));
    expect((await store.events('e1')).map((e) => e.at)).toEqual([1, 2, 3]);
  });

  it('survives a writer SIGKILLed mid-stream: records and events always agree, no partial batch', async () => {
    const prefix = freshPrefix();
    const writer = spawnTs('test/processes/commit-loop.ts', [server.url, prefix, 'e1']);
    await writer.waitFor(/committed 1/);
    await new Promise((r) => setTimeout(r, 300));
    await writer.kill('SIGKILL');
    const store = new RedisStore(redis, prefix);
    const events = await store.events('e1');
    const batches = (await store.loadMigration('e1:vm-1'))!.migration.passes;
    expect(batches).toBeGreaterThan(1);
    expect(events).toHaveLength(batches * 5);
    expect(events.map((e) => e.at)).toEqual(events.map((_, i) => Math.floor(i / 5) + 1));
    expect((await store.loadEvacuation('e1'))?.startedAt).toBe(batches);
  });

  it('turns a corrupt value into a StoredStateError naming the key', async () => {
    const store = new RedisStore(redis, freshPrefix());
    await redis.set(store.keys.evacuation('bad'), 'not json');
    await expect(store.loadEvacuation('bad')).rejects.toBeInstanceOf(StoredStateError);
    await redis.set(
      store.keys.evacuation('odd'),
      JSON.stringify({ ...sampleEvacuation('odd'), state: 'melting' }),
    );
    await expect(store.loadEvacuation('odd')).rejects.toThrow(/evacuation at .*evac:odd.*state/);
    await redis.xadd(store.keys.events('e9'), '1-0', 'type', 'x', 'event', '{"at":"soon"}');
    await expect(store.events('e9')).rejects.toBeInstanceOf(StoredStateError);
  });
});

const approval = (id: string): ApprovalRequest => ({
  id,
  evacuationId: 'e1',
  migrationId: 'e1:db-1',
  instance: 'db-1',
  kind: 'postcopy',
  requestedBy: 'U_ALICE',
  requestedAt: 1,
  expiresAt: 2,
  predictedDowntimeMs: 2300,
  downtimeSloMs: 500,
  remainingBytes: 1,
  dirtyBytesPerS: 1,
  bandwidthBytesPerS: 1,
  risk: 'a network failure during post-copy loses the guest',
});

describe('RedisApprovals', () => {
  it('keeps the first request and the first decision, however many race', async () => {
    const approvals = new RedisApprovals(redis, freshPrefix());
    await approvals.request(approval('a1'));
    await approvals.request({ ...approval('a1'), requestedBy: 'U_MALLORY' });
    expect((await approvals.get('a1'))?.requestedBy).toBe('U_ALICE');
    expect(await approvals.decision('a1')).toBeUndefined();
    const deciders = Array.from({ length: 20 }, (_, i) => `U_${i}`);
    const results = await Promise.all(
      deciders.map((by, i) =>
        approvals.record({
          approvalId: 'a1',
          outcome: i % 2 ? 'approved' : 'rejected',
          decidedBy: by,
          decidedAt: i,
        }),
      ),
    );
    const standing = await approvals.decision('a1');
    expect(standing).toBeDefined();
    for (const r of results) expect(r).toEqual(standing);
    // Expiry after a decision changes nothing.
    expect(await approvals.expire('a1', 99)).toEqual(standing);
  });

  it('expires into a system decision when nobody answered', async () => {
    const approvals = new RedisApprovals(redis, freshPrefix());
    await approvals.request(approval('a2'));
    expect(await approvals.expire('a2', 5)).toEqual({
      approvalId: 'a2',
      outcome: 'expired',
      decidedBy: 'system',
      decidedAt: 5,
    });
  });
});

describe('RedisApprovals and the clock that judges expiry', () => {
  it('on a real clock, refuses a decision Redis receives at or after the expiry, whatever the caller says', async () => {
    const approvals = new RedisApprovals(redis, freshPrefix());
    const [s, us] = await redis.time();
    const now = Number(s) * 1000 + Math.floor(Number(us) / 1000);
    await approvals.request({ ...approval('a3'), expiresAt: now - 1 });
    // The caller's clock claims it is early: Redis's TIME is what counts.
    const standing = await approvals.record({
      approvalId: 'a3',
      outcome: 'approved',
      decidedBy: 'U_BOB',
      decidedAt: 0,
    });
    expect(standing).toMatchObject({ outcome: 'expired', decidedBy: 'system' });
    expect(standing.decidedAt).toBeGreaterThanOrEqual(now);
  });

  it('on an accelerated clock, judges by the engine time and refuses decisions within the tolerance', async () => {
    const approvals = new RedisApprovals(redis, freshPrefix(), { source: 'engine', toleranceMs: 5_000 });
    await approvals.request({ ...approval('a4'), expiresAt: 100_000 });
    await approvals.request({ ...approval('a5'), expiresAt: 100_000 });
    await approvals.request({ ...approval('a6'), expiresAt: 100_000 });
    const decide = (id: string, at: number) =>
      approvals.record({ approvalId: id, outcome: 'approved', decidedBy: 'U_BOB', decidedAt: at });
    expect(await decide('a4', 94_000)).toEqual({
      approvalId: 'a4',
      outcome: 'approved',
      decidedBy: 'U_BOB',
      decidedAt: 94_000,
    });
    expect(await decide('a5', 96_000)).toMatchObject({ outcome: 'expired', decidedBy: 'system' });
    // A tie goes to the expiry even without tolerance.
    const exact = new RedisApprovals(redis, freshPrefix(), { source: 'engine', toleranceMs: 0 });
    await exact.request({ ...approval('a6'), expiresAt: 100_000 });
    expect(
      await exact.record({ approvalId: 'a6', outcome: 'approved', decidedBy: 'U_BOB', decidedAt: 100_000 }),
    ).toMatchObject({ outcome: 'expired' });
  });
});

describe('RedisStore.create', () => {
  it('reserves an id once and gives a host to one open evacuation at a time', async () => {
    const store = new RedisStore(redis, freshPrefix());
    const results = await Promise.all(
      ['e1', 'e2', 'e3', 'e4'].map((id) => store.create(sampleEvacuation(id, 'scheduled'), [])),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const holder = await store.holder('hv1');
    for (const r of results) if (!r.created) expect(r).toEqual({ created: false, holder });
    // The same id again is taken, whatever the host.
    expect(await store.create({ ...sampleEvacuation(holder!), state: 'planned' }, [])).toEqual({
      created: false,
      taken: true,
    });
    // A single-VM migration does not take its host.
    const migration = sampleEvacuation('m1');
    migration.request.only = { instance: 'vm-1' };
    expect(await store.create(migration, [])).toEqual({ created: true });
    // The commit that records the holder's end frees the host in the same step.
    await store.commit({ evacuation: sampleEvacuation(holder!, 'draining') });
    expect(await store.holder('hv1')).toBe(holder);
    await store.commit({ evacuation: sampleEvacuation(holder!, 'aborted') });
    expect(await store.holder('hv1')).toBeUndefined();
    expect(await store.create(sampleEvacuation('e9'), [])).toEqual({ created: true });
  });
});

describe('RedisControl and RedisAudit', () => {
  it('keeps the latest command per evacuation', async () => {
    const prefix = freshPrefix();
    const a = new RedisControl(redis, prefix);
    const b = new RedisControl(redis, prefix);
    expect(await a.current('e1')).toBeUndefined();
    await a.set('e1', 'pause', 'U_ALICE');
    await b.set('e1', 'resume', 'U_BOB');
    expect(await a.current('e1')).toEqual({ command: 'resume', by: 'U_BOB' });
  });

  it('appends who, what, when and from where, in order', async () => {
    const prefix = freshPrefix();
    const audit = new RedisAudit(redis, prefix);
    await audit.append({
      at: 1,
      who: 'U_ALICE',
      action: 'evacuate',
      target: 'e1',
      via: 'slack',
      detail: 'disk',
    });
    await audit.append({ at: 2, who: 'cli', action: 'abort', target: 'e1', via: 'cli' });
    await audit.append({
      at: 3,
      who: 'U_EVE',
      action: 'abort',
      target: 'e1',
      via: 'slack',
      refused: 'no role',
    });
    // Durable: another client (a restarted bot) reads the same trail, refusals apart from what was done.
    const other = client(server.url);
    expect(await new RedisAudit(other, prefix).entries()).toEqual([
      { at: 1, who: 'U_ALICE', action: 'evacuate', target: 'e1', via: 'slack', detail: 'disk' },
      { at: 2, who: 'cli', action: 'abort', target: 'e1', via: 'cli' },
      { at: 3, who: 'U_EVE', action: 'abort', target: 'e1', via: 'slack', refused: 'no role' },
    ]);
    other.disconnect();
  });
});

describe('redis config', () => {
  it('defaults to a hash-tagged prefix and the FERRY_REDIS_URL environment', () => {
    const previous = process.env.FERRY_REDIS_URL;
    process.env.FERRY_REDIS_URL = 'redis://10.0.0.5:6380';
    try {
      const config = redisConfigSchema.parse({});
      expect(config).toMatchObject({ url: 'redis://10.0.0.5:6380', prefix: '{ferry}' });
      expect(config.worker).toMatchObject({ lockDurationMs: 4000, stalledIntervalMs: 2000 });
    } finally {
      if (previous === undefined) delete process.env.FERRY_REDIS_URL;
      else process.env.FERRY_REDIS_URL = previous;
    }
    expect(redisConfigSchema.safeParse({ prefix: 'ferry' }).success).toBe(false);
    expect(redisConfigSchema.safeParse({ sentinels: [{ host: 'a', port: 26379 }] }).success).toBe(false);
  });
});
