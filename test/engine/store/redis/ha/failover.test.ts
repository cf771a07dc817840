import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FerryEvent } from '../../../../../src/engine/model.js';
import { info, startRedisCluster, startSentinelSet, waitUntil } from '../../../../support/redis-ha.js';
import { expectMovedOnce, type Fixture, finished, Harness, hosts, vms } from '../harness.js';
import { expectCompleteStream, ofType, until } from '../support.js';

/**
 * Redis high availability, for real: an evacuation run by the durable engine with two worker
 * processes while the Redis primary fails over under it. Nothing ferry acknowledged is lost
 * (every write it acknowledges waited for a replica: replication.ts), each VM moves once, the
 * event stream has no gap or duplicate, and the evacuation reaches its end. Every wait is for
 * an announced state (`+switch-master`, `cluster_state:ok`), never a sleep.
 */

const SPEED = 5;
const VMS = 12;
const FLEET = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3', 'hv4'])}
  instances:
${vms('hv1', VMS, 3)}
policy:
  streamCapGbps: 2
`;

/** Runs the evacuation; `failOver` strikes once a few VMs have moved; returns the whole stream. */
async function evacuateThroughFailover(harness: Harness, failOver: (f: Fixture) => Promise<void>) {
  const f = await harness.fixture(FLEET, SPEED);
  await Promise.all([f.worker('w1'), f.worker('w2')]);
  const { id } = await f.engine.service.evacuate({
    source: 'hv1',
    requestedBy: 'U_ALICE',
    reason: 'kernel',
    maintenance: false,
    when: { kind: 'now' },
  });
  await until(
    async () => ofType(await f.engine.service.events(id), 'migration.completed').length >= 3,
    'three VMs moved before the failover',
    60_000,
    100,
  );
  const before = await f.engine.service.events(id);
  await failOver(f);
  // On a timeout or a wrong end, the workers' logs say what happened to their Redis links.
  const done = await finished(f.engine, id, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}\nworkers:\n${harness.workerLogs().slice(-6000)}`);
  });
  const all = await f.engine.service.events(id);
  const ends = all.filter((e) => e.type === 'migration.failed' || e.type === 'migration.aborted');
  expect(done.state, `${JSON.stringify(ends)}\nworkers:\n${harness.workerLogs().slice(-4000)}`).toBe(
    'completed',
  );
  // What was acknowledged before the failover is still there, in order.
  expect(all.slice(0, before.length)).toEqual(before);
  expectCompleteStream(all);
  expect(ofType(all, 'evacuation.started')).toHaveLength(1);
  expect(ofType(all, 'migration.started')).toHaveLength(VMS);
  expect(ofType(all, 'migration.completed')).toHaveLength(VMS);
  await expectMovedOnce(f.sim, all);
  expect((await f.sim.inventory()).instances.filter((i) => i.host === 'hv1')).toEqual([]);
  // The final commit frees the host in the same script.
  expect(await f.engine.store.holder('hv1')).toBeUndefined();
  return { id, events: all as FerryEvent[], f };
}

describe('Redis Sentinel: one master, two replicas, three sentinels', { timeout: 240_000 }, () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  /** A fresh Sentinel set with a harness on it (stopped after the test). */
  const onSentinels = async () => {
    const set = await startSentinelSet();
    harness = await Harness.start({
      url: `redis://127.0.0.1:${set.master.port}`,
      yaml: set.yaml,
      stop: set.stop,
    });
    return { set, harness };
  };

  it('keeps an evacuation whole when the master is killed mid-run', async () => {
    const { set, harness } = await onSentinels();
    const oldMaster = await set.currentMasterPort();
    let promoted = 0;
    await evacuateThroughFailover(harness, async () => {
      promoted = await set.killMaster();
    });
    expect(promoted).not.toBe(oldMaster);
    expect(await set.currentMasterPort()).not.toBe(oldMaster);
  });

  it('handles READONLY from a master demoted while alive (SENTINEL FAILOVER)', async () => {
    const { set, harness } = await onSentinels();
    const oldMaster = set.master.port;
    await evacuateThroughFailover(harness, async () => {
      await set.failOverGracefully();
    });
    // The old master is a replica now: every write after the switch had to find the new one.
    await waitUntil(
      'the old master demoted to a replica',
      async () => (await info(oldMaster, 'replication')).get('role') === 'slave',
    );
  });
});

describe('Redis Cluster: three masters, a replica each', { timeout: 240_000 }, () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await cleanup?.();
  });

  it('keeps an evacuation whole when the master of its slot fails over and dies', async () => {
    const cluster = await startRedisCluster();
    const harness = await Harness.start({
      url: 'redis://127.0.0.1:6379',
      yaml: cluster.yaml,
      stop: cluster.stop,
    });
    cleanup = () => harness.stop();
    await evacuateThroughFailover(harness, async (f) => {
      // Every ferry key sits in the slot of its hash tag: fail over the master that owns it.
      const tag = f.engine.store.keys.prefix;
      const before = await cluster.ownerOf(tag);
      const old = await cluster.failOver(tag);
      expect(old.port).toBe(before.master.port);
      expect((await cluster.ownerOf(tag)).master.port).toBe(before.replica!.port);
      // The promoted master has no replica left: ferry's writes wait (WAIT 1) until the
      // operator brings a node back, as this does; then the evacuation goes on.
      await cluster.restart(old);
    });
  });
});
