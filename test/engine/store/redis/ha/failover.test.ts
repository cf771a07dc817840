import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { StandinEvent } from '../../../../../src/demo/slack-standin.js';
import type { FerryEvent } from '../../../../../src/engine/model.js';
import { connect } from '../../../../../src/engine/store/redis/index.js';
import { byHeader, progressMessages, textOf } from '../../../../e2e/story.js';
import { CHANNELS, startHarness } from '../../../../support/fake-slack.js';
import { info, startRedisCluster, startSentinelSet, waitUntil } from '../../../../support/redis-ha.js';
import { expectMovedOnce, type Fixture, finished, Harness, hosts, vms } from '../harness.js';
import { expectCompleteStream, ofType, until } from '../support.js';

/**
 * Redis high availability, for real: an evacuation run by the durable engine with two worker
 * processes while the Redis primary fails over under it. Nothing ferry acknowledged is lost
 * (every write it acknowledges waited for a replica: replication.ts), each VM moves once, the
 * event stream has no gap or duplicate, and the evacuation reaches its end. The bot side runs
 * too (the real Bolt app on the same HA Redis, against the loopback Slack stand-in): its one
 * progress message reaches the final state, the thread says finished once and the post-mortem
 * is posted once. Every wait is for an announced state (`+switch-master`, `cluster_state:ok`,
 * the message's final edit), never a sleep.
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

/**
 * Runs the evacuation; `failOver` strikes once a few VMs have moved; returns the whole stream.
 * `announced` is what the sentinels said meanwhile (`+switch-master`, `+sdown`), for the report
 * of a failure, with the Slack channel as posted, the bot's log and its Redis state.
 */
async function evacuateThroughFailover(
  harness: Harness,
  failOver: (f: Fixture) => Promise<void>,
  announced: readonly string[] = [],
) {
  const f = await harness.fixture(FLEET, SPEED);
  await Promise.all([f.worker('w1'), f.worker('w2')]);
  // The bot: its progress loop and paced outbox keep their place in the same HA Redis.
  const client = connect(f.config.redis!);
  const botLog: string[] = [];
  const bot = await startHarness({
    mode: 'socket',
    service: f.engine.service,
    client,
    log: (line) => botLog.push(`${new Date().toISOString()} ${line}`),
  });
  try {
    return await throughFailover(harness, f, bot, failOver).catch(async (err: Error) => {
      const posted = bot.slack
        .channel(CHANNELS.ops)
        .map((m) => `${m.threadTs ?? '-'} ${textOf(m).slice(0, 100)}`);
      const following = await client.smembers('ferry:slack:progress:following').catch(String);
      const evacuation = (await f.engine.service.list({ all: true }).catch(() => []))[0];
      const events = evacuation && (await f.engine.service.events(evacuation.request.id).catch(() => []));
      const state = `engine: ${evacuation?.state ?? 'no evacuation'}, ${events?.length ?? 0} events; bot following [${following}]`;
      throw new Error(
        [err.message, state, 'sentinels:', ...announced, 'slack:', ...posted, 'bot:', ...botLog].join('\n'),
        { cause: err },
      );
    });
  } finally {
    await bot.stop();
    client.disconnect();
  }
}

async function throughFailover(
  harness: Harness,
  f: Fixture,
  bot: Awaited<ReturnType<typeof startHarness>>,
  failOver: (f: Fixture) => Promise<void>,
) {
  const { slack } = bot;
  const { id } = await f.engine.service.evacuate({
    source: 'hv1',
    requestedBy: 'U_ALICE',
    reason: 'kernel',
    maintenance: false,
    when: { kind: 'now' },
  });
  // What a Confirm click does once the engine accepted the evacuation.
  await bot.ferry.ferry.progress.follow(id);
  const progress = await slack.waitFor('the progress message', () => progressMessages(slack, 'hv1')[0]);
  // Every state the message is edited to, in order: once final, never back (see below).
  const shown: string[] = [];
  slack.on('event', (event: StandinEvent) => {
    if (event.kind === 'updated' && event.message.ts === progress.ts)
      shown.push(textOf(event.message).split('\n')[0]!);
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
  // The progress message, edited through the failover, ends in the final state; the thread's
  // finished notice and the post-mortem follow it through the same outbox, once each.
  await slack.waitFor(
    'the progress message in its final state',
    () => textOf(progress).includes('Evacuation of hv1: completed'),
    60_000,
  );
  const finishedNotices = () =>
    slack
      .thread(CHANNELS.ops, progress.ts)
      .map(textOf)
      .filter((t) => t.includes('🏁 finished: completed'));
  await slack.waitFor('the finished notice', () => finishedNotices().length > 0, 30_000);
  const report = await slack.waitFor(
    'the post-mortem',
    () => byHeader(slack.channel(CHANNELS.ops), 'Post-mortem: evacuation of hv1'),
    30_000,
  );
  expect(textOf(report)).toContain(id);
  const final = shown.findIndex((line) => line.includes(': completed'));
  expect(
    shown.slice(final).filter((line) => !line.includes(': completed')),
    shown.join('\n'),
  ).toEqual([]);
  expect(progressMessages(slack, 'hv1')).toHaveLength(1);
  expect(finishedNotices()).toHaveLength(1);
  expect(
    slack.channel(CHANNELS.ops).filter((m) => !m.threadTs && textOf(m).startsWith('== Post-mortem')),
  ).toHaveLength(1);
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
    await evacuateThroughFailover(
      harness,
      async () => {
        promoted = await set.killMaster();
      },
      set.switches,
    );
    expect(promoted).not.toBe(oldMaster);
    // The sentinel asked learns the new configuration from the others' hellos (every 2 s): a
    // loaded one can still name the dead master just after the evacuation ended.
    await waitUntil(
      `the sentinels naming the new master (announced: ${set.switches.join('; ')})`,
      async () => (await set.currentMasterPort()) !== oldMaster,
    );
  });

  it('handles READONLY from a master demoted while alive (SENTINEL FAILOVER)', async () => {
    const { set, harness } = await onSentinels();
    const oldMaster = set.master.port;
    await evacuateThroughFailover(
      harness,
      async () => {
        await set.failOverGracefully();
      },
      set.switches,
    );
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
