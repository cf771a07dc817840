import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '../../../../src/engine/model.js';
import {
  Keys,
  RedisApprovals,
  RedisAudit,
  RedisCampaigns,
  RedisControl,
  RedisPlans,
  RedisStore,
  SCHEMA_VERSION,
  SchemaVersionError,
} from '../../../../src/engine/store/redis/index.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { sampleCampaign, sampleEvacuation, sampleRecord } from './fixtures/sample.js';
import { loadSchemaV1, schemaV1 } from './fixtures/schema-v1.js';
import { client, freshPrefix, until } from './support.js';

/**
 * Upgrades and retention on a real redis-server: what an older ferry wrote is read, what a newer
 * one wrote is refused, ended evacuations and old audit entries expire (short periods, checked
 * with TTLs and waited for with deadlines), and the open index answers without reading the rest.
 */

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

const approval = (evacuationId: string, instance: string): ApprovalRequest => ({
  id: `${evacuationId}:${instance}:approval-1`,
  evacuationId,
  migrationId: `${evacuationId}:${instance}`,
  instance,
  kind: 'postcopy',
  requestedBy: 'U0ALICE',
  requestedAt: Date.now(),
  expiresAt: Date.now() + 600_000,
  predictedDowntimeMs: 5,
  downtimeSloMs: 500,
  remainingBytes: 1,
  dirtyBytesPerS: 1,
  bandwidthBytesPerS: 1,
  risk: 'a link failure during post-copy loses the guest',
});

/** Each of `keys` expires, within `withinMs`. */
async function expectExpiring(keys: string[], withinMs: number): Promise<void> {
  for (const key of keys) {
    const ttl = await redis.pttl(key);
    expect(ttl, key).toBeGreaterThan(0);
    expect(ttl, key).toBeLessThanOrEqual(withinMs);
  }
}

describe('schema versions', () => {
  it('reads the records a schema-1 ferry left, and builds the open index it did not keep', async () => {
    const prefix = freshPrefix();
    await loadSchemaV1(redis, prefix);
    const store = new RedisStore(redis, prefix);
    const id = schemaV1.evacuationId;
    await store.prepare();
    expect(await redis.get(new Keys(prefix).schema())).toBe(String(SCHEMA_VERSION));
    expect((await store.openEvacuations()).map((e) => e.request.id)).toEqual([id]);
    const evacuation = (await store.loadEvacuation(id))!;
    expect(evacuation.state).toBe('paused');
    expect(evacuation).not.toHaveProperty('v');
    const records = await store.loadMigrations(evacuation.migrations.map((m) => m.id));
    expect(
      records.map((r) => r.migration.state).filter((s) => s === 'completed').length,
    ).toBeGreaterThanOrEqual(2);
    const events = await store.events(id);
    expect(events.map((e) => e.type)).toContain('evacuation.started');
    expect(events.map((e) => e.type)).toContain('evacuation.paused');
    expect(await new RedisControl(redis, prefix).current(id)).toEqual({ command: 'pause', by: 'U0ALICE' });
    expect((await new RedisAudit(redis, prefix).entries()).map((e) => e.action)).toEqual([
      'evacuate',
      'pause',
    ]);

    // Written again by this version: stamped, and still read the same.
    await store.commit({ evacuation });
    expect(JSON.parse((await redis.get(new Keys(prefix).evacuation(id)))!).v).toBe(SCHEMA_VERSION);
    expect(await store.loadEvacuation(id)).toEqual(evacuation);
  });

  it('refuses records and a keyspace a newer ferry wrote, with a typed error, never misreading them', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore(redis, prefix);
    const keys = new Keys(prefix);
    await redis.set(
      keys.evacuation('e1'),
      JSON.stringify({ ...sampleEvacuation('e1'), v: SCHEMA_VERSION + 1 }),
    );
    const read = store.loadEvacuation('e1');
    await expect(read).rejects.toBeInstanceOf(SchemaVersionError);
    await expect(read).rejects.toMatchObject({
      code: 'UNSUPPORTED',
      found: SCHEMA_VERSION + 1,
      userMessage: expect.stringContaining(`schema version ${SCHEMA_VERSION + 1}, newer than this ferry`),
    });
    await redis.set(keys.evacuation('e2'), JSON.stringify({ ...sampleEvacuation('e2'), v: 'two' }));
    await expect(store.loadEvacuation('e2')).rejects.toThrow('is not a schema version');

    await redis.set(keys.schema(), String(SCHEMA_VERSION + 1));
    await expect(store.prepare()).rejects.toBeInstanceOf(SchemaVersionError);
    expect(await redis.get(keys.schema())).toBe(String(SCHEMA_VERSION + 1));
  });
});

describe('retention', () => {
  it('expires an ended evacuation with everything it left, and drops it from the indexes', async () => {
    const prefix = freshPrefix();
    const keys = new Keys(prefix);
    // Every commit sweeps the index (by default a process sweeps every 10 s).
    const store = new RedisStore(redis, prefix, undefined, undefined, { finishedS: 1 }, undefined, {
      atMs: 0,
      everyMs: 0,
    });
    const approvals = new RedisApprovals(redis, prefix);
    const control = new RedisControl(redis, prefix);
    await store.create(sampleEvacuation('old', 'planned'), []);
    await store.create(
      {
        ...sampleEvacuation('open', 'planned'),
        request: { ...sampleEvacuation('open').request, source: 'hv9' },
      },
      [],
    );
    const watch = { startedAt: 1, rampStep: 0, lastRampAt: 1, downtimeLimitMs: 50, autoConverge: false };
    const record = {
      ...sampleRecord('old', 'vm1'),
      watch: { ...watch, bestRemainingBytes: 1, bestRemainingAt: 1, approvalsAsked: 1 },
    };
    await approvals.request(approval('old', 'vm1'));
    await approvals.record({
      approvalId: 'old:vm1:approval-1',
      outcome: 'approved',
      decidedBy: 'U0BOB',
      decidedAt: Date.now(),
    });
    await control.set('old', 'pause', 'U0ALICE');
    const draining = { ...sampleEvacuation('old'), migrations: [sampleRecord('old', 'vm1').migration] };
    await store.commit({
      evacuation: draining,
      migrations: [record],
      events: [{ evacuationId: 'old', at: 1, type: 'evacuation.started' } as never],
    });
    expect((await store.openEvacuations()).map((e) => e.request.id)).toEqual(['open', 'old']);

    await store.commit({ evacuation: { ...draining, state: 'completed', endedAt: 2 } });
    const left = [
      keys.evacuation('old'),
      keys.events('old'),
      keys.migration('old:vm1'),
      keys.approval('old:vm1:approval-1'),
      keys.decision('old:vm1:approval-1'),
      keys.control('old'),
    ];
    await expectExpiring(left, 1000);
    expect((await store.openEvacuations()).map((e) => e.request.id)).toEqual(['open']);
    expect(await redis.smembers(keys.openEvacuations())).toEqual(['open']);
    // The open one expires never.
    expect(await redis.pttl(keys.evacuation('open'))).toBe(-1);

    await until(
      async () => (await redis.exists(...left)) === 0,
      'the ended evacuation to expire',
      10_000,
      100,
    );
    // The next commit takes the expired id out of the index of every evacuation.
    await store.commit({ evacuation: sampleEvacuation('open') });
    expect((await store.listEvacuations()).map((e) => e.request.id)).toEqual(['open']);
    expect(await redis.zrange(keys.evacuationIndex(), '0', '-1')).toEqual(['open']);
  });

  it('gives the retention to evacuations an older ferry ended, found at start in the open index and in the rest', async () => {
    const prefix = freshPrefix();
    const keys = new Keys(prefix);
    const store = new RedisStore(redis, prefix, undefined, undefined, { finishedS: 2 });
    // Created by this version (so in the open index), then ended by a version-1 worker: its
    // record written again without `v` and without an expiry, still in the index.
    const draining = {
      ...sampleEvacuation('new-then-old'),
      migrations: [sampleRecord('new-then-old', 'vm1').migration],
    };
    await store.create(sampleEvacuation('new-then-old', 'planned'), []);
    await store.commit({
      evacuation: draining,
      migrations: [sampleRecord('new-then-old', 'vm1')],
      events: [{ evacuationId: 'new-then-old', at: 1, type: 'evacuation.started' } as never],
    });
    await redis.set(
      keys.evacuation('new-then-old'),
      JSON.stringify({ ...draining, state: 'completed', endedAt: 2 }),
    );
    // Created and ended by version 1 after the index last looked: in no index but P:evacs.
    await redis.set(
      keys.evacuation('old-only'),
      JSON.stringify({ ...sampleEvacuation('old-only'), state: 'aborted' }),
    );
    await redis.zadd(keys.evacuationIndex(), 1000, 'old-only');
    await redis.xadd(keys.events('old-only'), '1-0', 'type', 'evacuation.started', 'event', '{}');
    // An open one, and one whose record is unreadable: neither is given an expiry.
    await store.create(
      {
        ...sampleEvacuation('open', 'planned'),
        request: { ...sampleEvacuation('open').request, source: 'hv9' },
      },
      [],
    );
    await redis.set(keys.evacuation('garbage'), 'not json');
    await redis.zadd(keys.evacuationIndex(), 1001, 'garbage');

    // A worker starts.
    await store.prepare();
    const left = [
      keys.evacuation('new-then-old'),
      keys.events('new-then-old'),
      keys.migration('new-then-old:vm1'),
      keys.evacuation('old-only'),
      keys.events('old-only'),
    ];
    await expectExpiring(left, 2000);
    expect((await redis.zrange(keys.evacuationExpiry(), '0', '-1')).sort()).toEqual([
      'new-then-old',
      'old-only',
    ]);
    expect(await redis.smembers(keys.openEvacuations())).toEqual(['open']);
    expect(await redis.pttl(keys.evacuation('open'))).toBe(-1);
    expect(await redis.pttl(keys.evacuation('garbage'))).toBe(-1);

    await until(
      async () => (await redis.exists(...left)) === 0,
      'the ended evacuations to expire',
      10_000,
      100,
    );
  });

  it('expires an ended campaign, never a running one', async () => {
    const prefix = freshPrefix();
    const campaigns = new RedisCampaigns(redis, prefix, { finishedS: 1 });
    const running = sampleCampaign('camp-1');
    expect(await campaigns.save(running)).toBe(true);
    expect(await redis.pttl(new Keys(prefix).campaign('camp-1'))).toBe(-1);
    expect(await campaigns.save({ ...running, state: 'completed', endedAt: 2, version: 2 })).toBe(true);
    const ttl = await redis.pttl(new Keys(prefix).campaign('camp-1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    await until(async () => (await campaigns.list()).length === 0, 'the campaign to expire', 10_000, 100);
    expect(await redis.zcard(new Keys(prefix).campaignIndex())).toBe(0);
  });

  it('keeps audit entries for auditS and a used nonce for usedNonceS', async () => {
    const prefix = freshPrefix();
    const audit = new RedisAudit(redis, prefix, { auditS: 1 });
    const entry = (action: string) => ({ at: Date.now(), who: 'U0ALICE', action, target: 'e1', via: 'cli' });
    await audit.append(entry('pause'));
    await until(async () => (await audit.entries()).length === 0, 'the entry to age out', 10_000, 100);
    await audit.append(entry('resume'));
    // Trimmed from the stream itself, not only hidden.
    expect(await redis.xlen(new Keys(prefix).audit())).toBe(1);
    expect((await audit.entries()).map((e) => e.action)).toEqual(['resume']);

    const plans = new RedisPlans(redis, prefix, { usedNonceS: 2 });
    const now = Date.now();
    await plans.issue({
      id: 'plan-1',
      nonce: 'n1',
      issuedTo: 'U0ALICE',
      issuedAt: now,
      expiresAt: now + 1000,
      request: { hosts: ['hv1'], when: { kind: 'now' }, requestedBy: 'U0ALICE', maintenance: false },
      plans: [sampleEvacuation('x').plan],
      assumed: { at: now, hosts: [], instances: [] },
    });
    expect((await plans.claim({ planId: 'plan-1', nonce: 'n1' }, 'U0ALICE', now, 'confirmed')).ok).toBe(true);
    const used = await redis.pttl(new Keys(prefix).planUsed('plan-1'));
    expect(used).toBeGreaterThan(1000);
    expect(used).toBeLessThanOrEqual(2000);
    expect(await redis.pttl(new Keys(prefix).plan('plan-1'))).toBeLessThanOrEqual(3000);
  });
});
