import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceleratedClock } from '../../../../src/engine/clock.js';
import { createDurableEngine, type DurableEngine, parseConfig } from '../../../../src/engine/compose.js';
import { createSimDriver } from '../../../../src/engine/drivers/sim/index.js';
import { EvacuationEndedError } from '../../../../src/engine/store/redis/errors.js';
import { RedisStore, ReplicaAckError } from '../../../../src/engine/store/redis/index.js';
import { requireReplicas } from '../../../../src/engine/store/redis/replication.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { info, waitUntil } from '../../../support/redis-ha.js';
import { finished, hosts, vms } from './harness.js';
import { client, expectCompleteStream, freshPrefix, ofType, until } from './support.js';

/**
 * What ferry keeps when Redis fails over, piece by piece on real redis-servers (the HA suite runs
 * them together through real failovers): a reader acts only on what a replica holds, an ended
 * evacuation is never written open again, and a running evacuation whose job BullMQ lost is
 * queued again from its record.
 */

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

const SPEED = 20;
const config = (prefix: string) =>
  parseConfig(
    `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3'])}
  instances:
${vms('hv1', 3, 4)}
policy:
  streamCapGbps: 1
  maxPerSource: 1
redis:
  prefix: "${prefix}"
  worker: { reconcileMs: 200 }
`,
    'settled.yaml',
  );

/** A simulated fleet on the accelerated clock; each engine made from it shares its VMs. */
function fleetOn(prefix: string) {
  const cfg = config(prefix);
  const clock = acceleratedClock(SPEED);
  const driver = createSimDriver(cfg, clock);
  return {
    driver,
    engine: (log: string[] = []): DurableEngine =>
      createDurableEngine({
        config: cfg,
        driver,
        clock,
        clockRate: SPEED,
        redis: client(server.url),
        via: 'cli',
        log: (line) => log.push(line),
      }),
  };
}

describe('reads that a failover cannot take back', { timeout: 60_000 }, () => {
  it('settles only once a replica holds what was read, and says so when none does', async () => {
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(server.port)] });
    try {
      await waitUntil(
        'the replica in sync',
        async () => (await info(replica.port, 'replication')).get('master_link_status') === 'up',
      );
      const redis = client(server.url);
      // Generous while the replica runs (a loaded machine), short once it is gone.
      requireReplicas(redis, { replicas: 1, timeoutMs: 20_000 });
      const store = new RedisStore(redis, freshPrefix());
      await store.settle();
      await replica.stop();
      requireReplicas(redis, { replicas: 1, timeoutMs: 300 });
      const refused = await store.settle().catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ReplicaAckError);
      expect((refused as ReplicaAckError).retryable).toBe(true);
      expect((refused as ReplicaAckError).userMessage).toMatch(/reached 0 of 1 replica/);
      redis.disconnect();
    } finally {
      await replica.stop();
    }
  });

  it('never writes an open state over an ended evacuation', async () => {
    const engine = fleetOn(freshPrefix()).engine();
    const { id } = await engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    const scheduled = (await engine.store.loadEvacuation(id))!;
    await engine.store.commit({ evacuation: { ...scheduled, state: 'cancelled' } });
    const late = await engine.store.commit({ evacuation: scheduled }).catch((err: unknown) => err);
    expect(late).toBeInstanceOf(EvacuationEndedError);
    expect((await engine.store.loadEvacuation(id))!.state).toBe('cancelled');
    await engine.close();
    engine.redis.disconnect();
  });

  it('queues a running evacuation again when its job is gone, and it finishes, each VM moved once', async () => {
    const fleet = fleetOn(freshPrefix());
    const first = fleet.engine();
    await first.prepare();
    first.startWorker();
    const { id } = await first.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'now' },
    });
    await until(
      async () => ofType(await first.service.events(id), 'migration.started').length > 0,
      'a VM on its way',
    );
    // The worker hands the evacuation back and BullMQ's job vanishes (what a failover that
    // took back BullMQ's last moves leaves): nothing would ever run it again.
    await first.launcher.close();
    await (await first.launcher.job(id))!.remove();
    expect(await first.launcher.job(id)).toBeUndefined();
    expect((await first.service.status(id)).state).toBe('draining');

    const log: string[] = [];
    const second = fleet.engine(log);
    second.startWorker();
    const done = await finished(second, id, 45_000);
    expect(done.state).toBe('completed');
    expect(log.join('\n')).toMatch(new RegExp(`${id}: its job was gone while it runs; queued again`));
    const events = await second.service.events(id);
    expectCompleteStream(events);
    expect(ofType(events, 'migration.completed')).toHaveLength(3);
    const { migrations } = fleet.driver.snapshot();
    for (const started of ofType(events, 'migration.started'))
      expect(migrations.filter((m) => m.instance === started.instance)).toHaveLength(1);
    await second.close();
    first.redis.disconnect();
    second.redis.disconnect();
  });
});
