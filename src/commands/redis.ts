import { Cluster, Redis } from 'ioredis';
import { ConfigError, TimeoutError, toFerryError } from '../engine/errors.js';
import {
  connect,
  inheritReplicas,
  type RedisClient,
  redisConfigSchema,
} from '../engine/store/redis/index.js';

/**
 * ferry's own Redis connection inside a host bot. The host gives its client or a URL; ferry never
 * uses the host's client itself: it opens a duplicate with `maxRetriesPerRequest: null` (BullMQ
 * requires it, and commands then wait out a Redis restart instead of failing), which it closes
 * when it stops. A client with `keyPrefix` is refused: ferry's keys carry their own prefix (a
 * Cluster hash tag, which BullMQ's scripts need), and ioredis would put the host's before it.
 */

const PING_TIMEOUT_MS = 10_000;

/** Opens ferry's connection and checks Redis answers; rejects with a typed error otherwise. */
export async function ferryRedis(
  given: RedisClient | string,
  log: (line: string) => void,
): Promise<RedisClient> {
  const client = typeof given === 'string' ? fromUrl(given, log) : duplicate(given, log);
  let onError: ((err: Error) => void) | undefined;
  try {
    await Promise.race([
      client.ping(),
      // ioredis would retry for ever; at mount time the first refusal is the answer.
      new Promise((_, reject) => {
        onError = reject;
        client.once('error', onError);
      }),
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new TimeoutError(`no answer within ${PING_TIMEOUT_MS / 1000} s`)),
          PING_TIMEOUT_MS,
        ).unref(),
      ),
    ]);
    client.off('error', onError!);
  } catch (err) {
    client.disconnect();
    throw new TimeoutError(`ferry cannot reach Redis: ${toFerryError(err).userMessage}`);
  }
  return client;
}

function fromUrl(url: string, log: (line: string) => void): RedisClient {
  const parsed = redisConfigSchema.safeParse({ url });
  if (!parsed.success) throw new ConfigError(`redis: expected a redis:// or rediss:// URL, got "${url}"`);
  return connect(parsed.data, { log });
}

function duplicate(client: RedisClient, log: (line: string) => void): RedisClient {
  if (!(client instanceof Redis) && !(client instanceof Cluster))
    throw new ConfigError('redis: expected an ioredis client (Redis or Cluster) or a redis:// URL');
  const prefix =
    client instanceof Cluster
      ? (client.options.keyPrefix ?? client.options.redisOptions?.keyPrefix)
      : client.options.keyPrefix;
  if (prefix)
    throw new ConfigError(
      `redis: the client has keyPrefix "${prefix}"; give ferry a client without one (ferry prefixes its own keys)`,
    );
  const copy =
    client instanceof Cluster
      ? client.duplicate(undefined, {
          redisOptions: { ...client.options.redisOptions, maxRetriesPerRequest: null },
        })
      : client.duplicate({ maxRetriesPerRequest: null, lazyConnect: false });
  copy.on('error', (err: Error) => log(`redis: ${err.message}`));
  // What ferry acknowledges must survive a failover on the copy too (see replication.ts).
  inheritReplicas(client, copy);
  return copy;
}
