import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceleratedClock } from '../../../../src/engine/clock.js';
import { createDurableEngine, type DurableEngine } from '../../../../src/engine/compose.js';
import { defaultPolicy } from '../../../../src/engine/config.js';
import { SimDriver } from '../../../../src/engine/drivers/sim/index.js';
import { ForbiddenError } from '../../../../src/engine/errors.js';
import { GBPS, MiB } from '../../../../src/engine/model.js';
import { redisConfigSchema } from '../../../../src/engine/store/redis/config.js';
import { host, vm } from '../../../support/fleet.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { finished } from './harness.js';
import { client, freshPrefix, ofType } from './support.js';

/**
 * Pre-approvals in the durable engine on a real redis-server: the batch is stored and indexed
 * per evacuation, decided once (the first decision wins, the requester never), read back by a
 * second replica, and carried out by the worker without waiting for anyone.
 */

const SPEED = 20;
let server: RedisServer;
let redis: Redis;
const engines: DurableEngine[] = [];

beforeAll(async () => {
  server = await startRedis();
  redis = client(server.url);
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  redis?.disconnect();
  await server?.stop();
});

function replica(prefix: string, clock = acceleratedClock(SPEED)) {
  const driver = new SimDriver({
    fleet: {
      hosts: [host('hv1'), host('hv2')],
      instances: [
        vm('web-1', 'hv1', 2, { dirtyBytesPerS: 10 * MiB }),
        vm('db-1', 'hv1', 8, { dirtyBytesPerS: 1500 * MiB, downtimeSloMs: 300 }),
      ],
    },
    clock,
    streamCapBytesPerS: 8 * GBPS,
  });
  const engine = createDurableEngine({
    config: {
      policy: { ...defaultPolicy, allowAutoConverge: false },
      windows: [],
      timezone: 'UTC',
      maintenance: { reenable: true, timeoutS: 60 },
      redis: redisConfigSchema.parse({
        prefix,
        worker: { lockDurationMs: 2000, stalledIntervalMs: 1000, concurrency: 2, backoffMs: 500 },
      }),
    },
    driver,
    clock,
    redis: client(server.url),
    via: 'slack',
    clockRate: SPEED,
  });
  engines.push(engine);
  return engine;
}

describe('pre-approvals on Redis', () => {
  it('are stored per evacuation, decided once by someone else, and carried out by the worker without waiting', async () => {
    const prefix = freshPrefix();
    const clock = acceleratedClock(SPEED);
    const asker = replica(prefix, clock);
    const other = replica(prefix, clock);
    // Scheduled a little later, so the decision comes before the drain starts, as it would at night.
    const { id } = await asker.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 20_000 },
    });
    const early = `${id}:db-1:pre-approval`;
    expect(
      (await other.service.approvals(id)).map((a) => [a.request.id, a.request.stage, a.decision]),
    ).toEqual([[early, 'early', undefined]]);
    expect(await redis.smembers(`${prefix}:approvals:${id}`)).toEqual([early]);

    await expect(other.service.decideAll(id, 'approved', 'U_ALICE')).rejects.toBeInstanceOf(ForbiddenError);
    expect(await other.service.decideAll(id, 'approved', 'U_BOB')).toHaveLength(1);
    // The first decision stands whoever comes second.
    expect(await asker.service.decide(early, 'rejected', 'U_CAROL')).toMatchObject({
      outcome: 'approved',
      decidedBy: 'U_BOB',
    });

    asker.startWorker();
    const done = await finished(asker, id, 60_000);
    expect(done.state).toBe('completed');
    const events = await asker.store.events(id);
    expect(ofType(events, 'approval.requested').map((e) => e.approval.stage)).toEqual(['early']);
    expect(ofType(events, 'migration.switchover')).toMatchObject([{ instance: 'db-1', kind: 'postcopy' }]);
    expect(ofType(events, 'approval.decided').map((e) => [e.decision.outcome, e.decision.decidedBy])).toEqual(
      [['approved', 'U_BOB']],
    );
    const audit = await other.service.audit(id);
    expect(
      audit.filter((e) => e.target === early).map((e) => [e.who, e.action, e.refused ?? 'done']),
    ).toEqual([
      ['U_BOB', 'approve', 'done'],
      ['U_CAROL', 'reject', 'already approved by U_BOB'],
    ]);
  });
});
