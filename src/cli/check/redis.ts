import { Cluster, type Redis } from 'ioredis';
import { TimeoutError } from '../../engine/errors.js';
import { connect, type RedisClient, type RedisConfig } from '../../engine/store/redis/index.js';
import { attempt, type CheckResult, versionAtLeast } from './result.js';

/**
 * BullMQ's recommended minimum (it refuses below 5.0); ferry's scripts and tests run on 7.0.
 * Below it a drain may fail on a command the server does not have.
 */
export const MIN_REDIS_VERSION = '6.2.0';

/** How long Redis may take to answer the preflight before it counts as unreachable. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The fields of INFO a check reads (`field:value` lines). */
function infoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** Resolves with the client's first answer, or rejects with its first connection error or a timeout. */
async function firstAnswer<T>(client: RedisClient, ask: () => Promise<T>): Promise<T> {
  let onError: ((err: Error) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      ask(),
      new Promise<never>((_, reject) => {
        onError = reject;
        client.once('error', onError);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TimeoutError(`no answer within ${ANSWER_TIMEOUT_MS / 1000} s`)),
          ANSWER_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    if (onError) client.off('error', onError);
    clearTimeout(timer);
  }
}

/**
 * The servers whose INFO tells what a drain needs, named: on a Cluster every master (a client's
 * INFO goes to any one node, which tells nothing of the others' versions, eviction policies or
 * replicas), else the one server the client talks to.
 */
async function servers(client: RedisClient): Promise<{ node?: string; server: RedisClient | Redis }[]> {
  if (!(client instanceof Cluster)) return [{ server: client }];
  return client
    .nodes('master')
    .map((server) => ({ node: `${server.options.host}:${server.options.port}`, server }))
    .sort((a, b) => a.node.localeCompare(b.node, 'en', { numeric: true }));
}

/**
 * Redis as the bot and the workers will use it: reachable (with its password), its version, an
 * eviction policy that never drops ferry's keys, and the replicas `replicasToAck` waits for; on
 * a Cluster each of those for every master, a line each.
 */
export async function checkRedis(config: RedisConfig): Promise<CheckResult[]> {
  const target = config.cluster
    ? `cluster ${config.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`
    : config.sentinels
      ? `sentinel group ${config.name}`
      : config.url;
  const client = connect(config);
  try {
    let infos: { node?: string; fields: Map<string, string> }[] | undefined;
    const reachable = await attempt({ component: 'redis', target, check: 'reachable' }, async () => {
      await firstAnswer(client, () => client.ping());
      const nodes = await servers(client);
      infos = await Promise.all(
        nodes.map(async ({ node, server }) => ({
          node,
          fields: infoFields(await firstAnswer(client, () => server.info())),
        })),
      );
      return {
        verdict: 'ok',
        detail: `answers PING${config.password ? ' (password from ferry)' : ''}${
          client instanceof Cluster ? `; ${nodes.length} masters` : ''
        }`,
      };
    });
    if (!infos) return [reachable];
    const needed = config.replicasToAck ?? (config.cluster || config.sentinels ? 1 : 0);
    return [
      reachable,
      ...infos.flatMap(({ node, fields }) =>
        serverChecks(node ? `${target} node ${node}` : target, fields, needed),
      ),
    ];
  } finally {
    client.disconnect();
  }
}

/** One server's version, eviction policy and replicas, from its INFO. */
function serverChecks(target: string, fields: Map<string, string>, needed: number): CheckResult[] {
  const version = fields.get('redis_version') ?? '0';
  const policy = fields.get('maxmemory_policy') ?? 'unknown';
  const replicas = Number(fields.get('connected_slaves') ?? '0');
  return [
    {
      component: 'redis',
      target,
      check: 'version',
      ...(versionAtLeast(version, MIN_REDIS_VERSION)
        ? { verdict: 'ok', detail: `Redis ${version}` }
        : { verdict: 'fail', detail: `Redis ${version}; ferry needs ${MIN_REDIS_VERSION} or later` }),
    },
    {
      component: 'redis',
      target,
      check: 'eviction policy',
      ...(policy === 'noeviction'
        ? { verdict: 'ok', detail: 'maxmemory-policy noeviction' }
        : {
            verdict: 'fail',
            detail: `maxmemory-policy ${policy}: Redis may evict evacuations, locks and queued jobs under memory pressure; set it to noeviction`,
          }),
    },
    {
      component: 'redis',
      target,
      check: 'replicas',
      ...(replicas >= needed
        ? { verdict: 'ok', detail: `${replicas} connected, ${needed} needed (redis.replicasToAck)` }
        : {
            verdict: 'fail',
            detail: `${replicas} connected, ${needed} needed (redis.replicasToAck): every acknowledged write would wait for a replica that is not there`,
          }),
    },
  ];
}
