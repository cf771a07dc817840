import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRedis } from '../../src/cli/check/redis.js';
import { redisConfigSchema } from '../../src/engine/store/redis/index.js';
import { info, type RedisClusterSet, startRedisCluster, waitUntil } from '../support/redis-ha.js';

/**
 * `ferry check` on a real Redis Cluster (three masters, a replica each): every master's version,
 * eviction policy and replicas are read and reported on a line of their own, so one evicting
 * master or one master without its replica fails the check, whichever node a client's INFO
 * would have reached.
 */

let cluster: RedisClusterSet;
let masters: number[];

beforeAll(async () => {
  cluster = await startRedisCluster();
  const roles = await Promise.all(
    cluster.nodes.map(async (n) => ({ port: n.port, role: (await info(n.port, 'replication')).get('role') })),
  );
  masters = roles
    .filter((r) => r.role === 'master')
    .map((r) => r.port)
    .sort((a, b) => a - b);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

const config = () =>
  redisConfigSchema.parse({
    cluster: cluster.nodes.slice(0, 3).map((n) => ({ host: '127.0.0.1', port: n.port })),
  });

/** The verdict of each master's line for `check`, by port. */
async function perMaster(check: string): Promise<Map<number, string>> {
  const results = await checkRedis(config());
  const lines = results.filter((r) => r.check === check);
  return new Map(
    lines.map((r) => {
      const port = Number(/ node 127\.0\.0\.1:(\d+)$/.exec(r.target)?.[1]);
      return [port, r.verdict];
    }),
  );
}

describe('ferry check on a Redis Cluster', { timeout: 120_000 }, () => {
  it('reads every master, a line each, and passes when each has what a drain needs', async () => {
    expect(masters).toHaveLength(3);
    const results = await checkRedis(config());
    expect(results[0]).toMatchObject({ check: 'reachable', verdict: 'ok' });
    expect(results[0]!.detail).toContain('3 masters');
    for (const check of ['version', 'eviction policy', 'replicas'])
      expect(await perMaster(check)).toEqual(new Map(masters.map((p) => [p, 'ok'])));
    expect(results.every((r) => r.verdict === 'ok')).toBe(true);
  });

  it('fails on the one master that evicts, and on the one whose replica is gone', async () => {
    const [evicting, orphaned] = masters as [number, number];
    const admin = new Redis({ port: evicting, lazyConnect: true });
    await admin.connect();
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      expect(await perMaster('eviction policy')).toEqual(
        new Map(masters.map((p) => [p, p === evicting ? 'fail' : 'ok'])),
      );
    } finally {
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      admin.disconnect();
    }

    const replicas = await Promise.all(
      cluster.nodes.map(async (n) => ({ n, replication: await info(n.port, 'replication') })),
    );
    const replica = replicas.find(
      (r) => r.replication.get('role') === 'slave' && Number(r.replication.get('master_port')) === orphaned,
    )!.n;
    await replica.server.stop();
    await waitUntil(
      `master ${orphaned} without its replica`,
      async () => (await info(orphaned, 'replication')).get('connected_slaves') === '0',
    );
    expect(await perMaster('replicas')).toEqual(
      new Map(masters.map((p) => [p, p === orphaned ? 'fail' : 'ok'])),
    );
  });
});
