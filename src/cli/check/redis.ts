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
 * Redis as the bot and the workers will use it: reachable (with its password), its version, an
 * eviction policy that never drops ferry's keys, and the replicas `replicasToAck` waits for.
 */
export async function checkRedis(config: RedisConfig): Promise<CheckResult[]> {
  const target = config.cluster
    ? `cluster ${config.cluster.map((n) => `${n.host}:${n.port}`).join(',')}`
    : config.sentinels
      ? `sentinel group ${config.name}`
      : config.url;
  const client = connect(config);
  try {
    let info: Map<string, string> | undefined;
    const reachable = await attempt({ component: 'redis', target, check: 'reachable' }, async () => {
      await firstAnswer(client, () => client.ping());
      info = infoFields(await firstAnswer(client, () => client.info()));
      return { verdict: 'ok', detail: `answers PING${config.password ? ' (password from ferry)' : ''}` };
    });
    if (!info) return [reachable];
    const fields = info;
    const version = fields.get('redis_version') ?? '0';
    const policy = fields.get('maxmemory_policy') ?? 'unknown';
    const replicas = Number(fields.get('connected_slaves') ?? '0');
    const needed = config.replicasToAck ?? (config.cluster || config.sentinels ? 1 : 0);
    return [
      reachable,
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
  } finally {
    client.disconnect();
  }
}
