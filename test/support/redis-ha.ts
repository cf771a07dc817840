import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, type RedisServer, startRedis } from './redis.js';

/**
 * Real Redis high-availability sets on loopback, for the failover tests: a Sentinel set (one
 * master, two replicas, three sentinels) and a Cluster (three masters, a replica each). Every
 * wait is for the state it needs (replication links up, `+switch-master`, `cluster_state:ok`),
 * never a sleep.
 */

const run = promisify(execFile);

/** Polls `probe` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One short-lived admin connection: runs `fn`, then closes. */
async function admin<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

/** `INFO section` as a map of its fields. */
export async function info(port: number, section: string): Promise<Map<string, string>> {
  const text = await admin(port, (r) => r.info(section));
  return new Map(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as [string, string]),
  );
}

export interface SentinelSet {
  name: string;
  master: RedisServer;
  replicas: RedisServer[];
  sentinels: { port: number; stop(): Promise<void> }[];
  /** The redis: section of a ferry config for this set. */
  yaml: string;
  /** What the first sentinel announced since the set started (`+switch-master`, `±sdown`), for failure reports. */
  switches: string[];
  /** Port of the master the sentinels name now. */
  currentMasterPort(): Promise<number>;
  /** Kills the master; resolves with the new master's port once a sentinel announced `+switch-master`. */
  killMaster(): Promise<number>;
  /** SENTINEL FAILOVER: the master, still alive, is demoted to a replica (it answers READONLY to writes). */
  failOverGracefully(): Promise<number>;
  stop(): Promise<void>;
}

/** One master, two replicas and three sentinels that fail over within about a second. */
export async function startSentinelSet(name = 'ferry'): Promise<SentinelSet> {
  const master = await startRedis();
  const replicas = await Promise.all(
    [0, 1].map(() => startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] })),
  );
  for (const r of replicas)
    await waitUntil(
      `replica ${r.port} in sync`,
      async () => (await info(r.port, 'replication')).get('master_link_status') === 'up',
    );
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sentinel-'));
  const sentinels = await Promise.all(
    [0, 1, 2].map(async (i) => {
      const port = await freePort();
      const file = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} 400`,
          `sentinel failover-timeout ${name} 4000`,
          `sentinel parallel-syncs ${name} 2`,
          '',
        ].join('\n'),
      );
      const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
      await waitUntil(`sentinel ${port} up`, () => admin(port, (r) => r.ping()));
      return {
        port,
        stop: async () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGKILL');
          await exited;
        },
      };
    }),
  );
  // A failover needs a quorum that knows every replica and every other sentinel.
  for (const s of sentinels)
    await waitUntil(`sentinel ${s.port} to see 2 replicas and 2 sentinels`, () =>
      admin(s.port, async (r) => {
        const known = (await r.call('SENTINEL', 'REPLICAS', name)) as unknown[];
        const peers = (await r.call('SENTINEL', 'SENTINELS', name)) as unknown[];
        return known.length === 2 && peers.length === 2;
      }),
    );
  const switches: string[] = [];
  const announcer = new Redis({ port: sentinels[0]!.port, host: '127.0.0.1' });
  announcer.on('error', () => {});
  await announcer.subscribe('+switch-master', '+sdown', '-sdown');
  announcer.on('message', (channel: string, message: string) =>
    switches.push(`${new Date().toISOString()} ${channel} ${message}`),
  );
  const currentMasterPort = () =>
    admin(sentinels[0]!.port, async (r) =>
      Number(((await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]),
    );
  return {
    name,
    master,
    replicas,
    sentinels,
    yaml: [
      `  name: ${name}`,
      `  sentinels: [${sentinels.map((s) => `{ host: 127.0.0.1, port: ${s.port} }`).join(', ')}]`,
    ].join('\n'),
    switches,
    currentMasterPort,
    killMaster: () =>
      switchMaster(async (old) => {
        await [master, ...replicas].find((n) => n.port === old)!.stop();
      }),
    failOverGracefully: () =>
      switchMaster(async () => {
        await admin(sentinels[0]!.port, (r) => r.call('SENTINEL', 'FAILOVER', name));
      }),
    stop: async () => {
      announcer.disconnect();
      await Promise.all(sentinels.map((s) => s.stop()));
      await Promise.all([master, ...replicas].map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  /** Runs `act` on the current master; resolves with the new master's port at `+switch-master`. */
  async function switchMaster(act: (old: number) => Promise<void>): Promise<number> {
    const old = await currentMasterPort();
    const watcher = new Redis({ port: sentinels[0]!.port, host: '127.0.0.1' });
    watcher.on('error', () => {});
    try {
      await watcher.subscribe('+switch-master');
      const switched = new Promise<number>((resolve) =>
        watcher.on('message', (_channel, message: string) => {
          // "<name> <old-ip> <old-port> <new-ip> <new-port>"
          const fields = message.split(' ');
          if (fields[0] === name) resolve(Number(fields[4]));
        }),
      );
      await act(old);
      return await Promise.race([
        switched,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('no +switch-master in 30 s')), 30_000),
        ),
      ]);
    } finally {
      watcher.disconnect();
    }
  }
}

export interface ClusterNode {
  port: number;
  server: RedisServer;
}

export interface RedisClusterSet {
  nodes: ClusterNode[];
  yaml: string;
  /** The master serving `hashTag`'s slot, and its live replica if it has one. */
  ownerOf(hashTag: string): Promise<{ master: ClusterNode; replica?: ClusterNode }>;
  /**
   * CLUSTER FAILOVER on the replica of `hashTag`'s master, then kills the old master; resolves
   * once the survivors say `cluster_state:ok` with the replica as master. Returns the old master.
   */
  failOver(hashTag: string): Promise<ClusterNode>;
  /** Starts a killed node again on its port and cluster state: it rejoins as a replica. */
  restart(node: ClusterNode): Promise<void>;
  stop(): Promise<void>;
}

/** A free port p whose cluster bus port p + 10000 is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port)) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port + 10_000, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (bus) {
      taken.add(port);
      return port;
    }
  }
}

function clusterArgs(): string[] {
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '1000',
  ];
}

/** Three masters with a replica each, slots spread by `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<RedisClusterSet> {
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freeClusterPort(taken));
  const nodes: ClusterNode[] = await Promise.all(
    ports.map(async (port) => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-cluster-'));
      return { port, server: await startRedis({ port, dir, args: clusterArgs() }) };
    }),
  );
  await run('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((p) => `127.0.0.1:${p}`),
    '--cluster-replicas',
    '1',
    '--cluster-yes',
  ]);
  const ok = (port: number) =>
    admin(port, async (r) => String(await r.call('CLUSTER', 'INFO')).includes('cluster_state:ok'));
  for (const n of nodes) await waitUntil(`node ${n.port}: cluster_state:ok`, () => ok(n.port));
  const alive = new Set(nodes);

  /** The owner of `hashTag`'s slot as the node on `askPort` (default: any live one) sees it. */
  const ownerOf = async (hashTag: string, askPort = [...alive][0]!.port) =>
    admin(askPort, async (r) => {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', hashTag));
      const lines = String(await r.call('CLUSTER', 'NODES'))
        .trim()
        .split('\n');
      const parsed = lines.map((l) => {
        const f = l.split(' ');
        return {
          id: f[0]!,
          port: Number(f[1]!.split(':')[1]!.split('@')[0]),
          flags: f[2]!,
          masterId: f[3]!,
          slots: f.slice(8),
        };
      });
      const serves = (ranges: string[]) =>
        ranges.some((range) => {
          const [a, b] = range.split('-').map(Number);
          return slot >= a! && slot <= (b ?? a)!;
        });
      const master = parsed.find(
        (n) => n.flags.includes('master') && !n.flags.includes('fail') && serves(n.slots),
      );
      if (!master) throw new Error(`no live master for slot ${slot}: ${lines.join('\n')}`);
      const replica = parsed.find((n) => n.masterId === master.id && !n.flags.includes('fail'));
      const node = (port: number) => nodes.find((n) => n.port === port)!;
      return { master: node(master.port), replica: replica && node(replica.port) };
    });

  return {
    nodes,
    yaml: `  cluster: [${ports
      .slice(0, 3)
      .map((p) => `{ host: 127.0.0.1, port: ${p} }`)
      .join(', ')}]`,
    ownerOf,
    failOver: async (hashTag) => {
      const { master, replica } = await ownerOf(hashTag);
      if (!replica) throw new Error(`the master ${master.port} of ${hashTag} has no replica to fail over to`);
      await admin(replica.port, (r) => r.call('CLUSTER', 'FAILOVER'));
      await waitUntil(
        `replica ${replica.port} promoted`,
        async () => (await info(replica.port, 'replication')).get('role') === 'master',
      );
      await master.server.stop();
      alive.delete(master);
      for (const n of alive)
        await waitUntil(
          `node ${n.port}: cluster_state:ok with ${replica.port} serving ${hashTag}`,
          async () => (await ok(n.port)) && (await ownerOf(hashTag, n.port)).master === replica,
        );
      return master;
    },
    restart: async (node) => {
      node.server = await startRedis({ port: node.port, dir: node.server.dir, args: clusterArgs() });
      alive.add(node);
      await waitUntil(`node ${node.port} back as a synced replica`, async () => {
        const replication = await info(node.port, 'replication');
        return replication.get('role') === 'slave' && replication.get('master_link_status') === 'up';
      });
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.server.stop()));
      for (const n of nodes) rmSync(n.server.dir, { recursive: true, force: true });
    },
  };
}
