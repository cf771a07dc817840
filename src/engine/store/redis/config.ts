import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { bounded, LIMITS } from '../../config.js';
import { requireReplicas } from './replication.js';

/**
 * The `redis` section of the ferry config and the one place that turns it into a client.
 * Defaults, and the trade-offs behind the worker timings, are documented here.
 */

const endpoint = z.strictObject({
  host: z.string().min(1),
  port: bounded(LIMITS.port),
});

/**
 * How quickly a dead worker's evacuation is taken over, and what it costs.
 *
 * BullMQ holds a lock per running job, renewed every lockDuration / 2 (and on every runner step);
 * every stalledIntervalMs some worker looks for active jobs whose lock has expired and puts them
 * back in the queue. A SIGKILLed worker's evacuation is therefore resumed after about
 * lockDurationMs + stalledIntervalMs (measured: 2-3 s with 2000/1000). Shorter means faster
 * takeover but more Redis traffic and a false "stalled" verdict when a worker's event loop or its
 * Redis link stalls for longer than lockDurationMs; the fenced store (see store.ts) makes such a
 * verdict harmless (the old runner's next commit is refused), only wasteful. BullMQ's defaults
 * (30 s / 30 s) take up to a minute.
 */
export const workerTuningSchema = z.strictObject({
  /** Evacuations one worker process runs at once. */
  concurrency: bounded(LIMITS.concurrency).default(4),
  /** Job lock lifetime, ms (BullMQ default 30000). */
  lockDurationMs: bounded({ ...LIMITS.delayMs, min: 500 }).default(4000),
  /** Period of the stalled-job check, ms (BullMQ default 30000). */
  stalledIntervalMs: bounded({ ...LIMITS.delayMs, min: 250 }).default(2000),
  /** A job may be found stalled (its worker died) this many times before it is failed. */
  maxStalls: bounded({ ...LIMITS.attempts, min: 0 }).default(1000),
  /** Attempts after the runner throws (Redis or driver trouble), `backoffMs` apart. */
  attempts: bounded(LIMITS.attempts).default(20),
  backoffMs: bounded(LIMITS.delayMs).default(2000),
  /**
   * How often a worker looks for running evacuations whose job is gone or finished (a failover
   * took back BullMQ's last moves) and queues them again (BullLauncher.reconcile).
   */
  reconcileMs: bounded({ ...LIMITS.delayMs, min: 100 }).default(5000),
  /**
   * How often a worker publishes its driver's inventory for bots without a driver (fleet.ts); a
   * bot finds none FLEET_TTL_PERIODS periods after the last worker stopped.
   */
  fleetPublishMs: bounded({ ...LIMITS.delayMs, min: 100 }).default(5000),
});

/** A retention period: long, but finite, so no size grows for ever. */
const retentionS = bounded({ above: 0, max: 315_360_000, unit: 's', why: 'ten years' });

/**
 * How long ferry keeps what it no longer needs to act on (seconds). An ended evacuation keeps its
 * record, event stream, migration records, approvals and operator commands for `finishedS`
 * after it ended (post-mortems and `/ferry audit ID` read them); an audit entry is kept `auditS`
 * (export it first: `ferry audit --export FILE`); a preview's nonce, once used or expired, is
 * remembered `usedNonceS` so a late click is refused with who used it. Open evacuations are never
 * expired, however old.
 */
export const retentionSchema = z.strictObject({
  finishedS: retentionS.default(30 * 86_400),
  auditS: retentionS.default(365 * 86_400),
  usedNonceS: retentionS.default(86_400),
});

export type Retention = z.infer<typeof retentionSchema>;

export const redisConfigSchema = z
  .strictObject({
    /** redis://[user:password@]host:port[/db]; for Sentinel only credentials and db are used. */
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
      .default(() => process.env.FERRY_REDIS_URL ?? 'redis://127.0.0.1:6379'),
    /**
     * The password (AUTH), over the URL's; better from FERRY_REDIS_PASSWORD or
     * FERRY_REDIS_PASSWORD_FILE than here (secrets.ts). With Sentinel it is the data nodes'.
     */
    password: z.string().min(1).optional(),
    /**
     * Prefix of every key, BullMQ's included. The braces are a Cluster hash tag: every ferry key
     * lands in one slot, so the Lua scripts that write several keys at once work on a Cluster.
     */
    prefix: z
      .string()
      .regex(/^[^\s]*\{[^{}\s]+\}[^\s]*$/, 'a prefix with a {hash tag}, e.g. {ferry}')
      .default('{ferry}'),
    /** Sentinels to ask for the current primary of `name`. */
    sentinels: z.array(endpoint).min(1).optional(),
    /** The Sentinel master group name. */
    name: z.string().min(1).optional(),
    /** Cluster seed nodes. */
    cluster: z.array(endpoint).min(1).optional(),
    worker: workerTuningSchema.default(workerTuningSchema.parse({})),
    retention: retentionSchema.default(retentionSchema.parse({})),
    /**
     * Replicas that must hold each write ferry acknowledges (WAIT; see replication.ts). Default:
     * 1 with sentinels or cluster (a failover keeps everything acknowledged), 0 on a single node.
     */
    replicasToAck: bounded({
      ...LIMITS.attempts,
      min: 0,
      max: 16,
      why: 'more replicas than a set has',
    }).optional(),
    /** How long a write may wait for its replicas before its step is retried. */
    replicaAckTimeoutMs: bounded({ ...LIMITS.delayMs, min: 10 }).default(2000),
  })
  .superRefine((config, ctx) => {
    if (config.sentinels && !config.name)
      ctx.addIssue({ code: 'custom', path: ['name'], message: 'sentinels need the master group name' });
    if (config.sentinels && config.cluster)
      ctx.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: 'use either sentinels or cluster, not both',
      });
  });

export type RedisConfig = z.infer<typeof redisConfigSchema>;
export type WorkerTuning = z.infer<typeof workerTuningSchema>;

/** Any client ferry talks to: a single node (standalone or via Sentinel) or a Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * Reconnect delay after the n-th failed attempt: 50 ms doubling to 2 s, forever. Commands wait
 * in the client's queue meanwhile (maxRetriesPerRequest: null), so work resumes when Redis does.
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

/** The connection options every ferry client shares (BullMQ requires maxRetriesPerRequest: null). */
function commonOptions(url: URL, password: string | undefined): RedisOptions {
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined;
  return {
    maxRetriesPerRequest: null,
    retryStrategy: reconnectDelayMs,
    // After a failover the old primary answers READONLY: reconnect to find the new one.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: password ?? (url.password ? decodeURIComponent(url.password) : undefined),
    db: db !== undefined && Number.isInteger(db) ? db : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Opens a client for the config: Cluster, Sentinel or a single node. */
export function connect(config: RedisConfig, options: { log?: (line: string) => void } = {}): RedisClient {
  const url = new URL(config.url);
  const common = commonOptions(url, config.password);
  let client: RedisClient;
  if (config.cluster) {
    client = new Cluster(config.cluster, {
      clusterRetryStrategy: reconnectDelayMs,
      redisOptions: common,
    });
  } else if (config.sentinels) {
    client = new Redis({
      ...common,
      sentinels: config.sentinels,
      name: config.name,
      sentinelRetryStrategy: reconnectDelayMs,
    });
  } else {
    client = new Redis({ ...common, host: url.hostname, port: url.port ? Number(url.port) : 6379 });
  }
  // Without a listener ioredis prints every failed reconnect; the retry strategy handles them.
  client.on('error', (err: Error) => options.log?.(`redis: ${err.message}`));
  requireReplicas(client, {
    replicas: config.replicasToAck ?? (config.cluster || config.sentinels ? 1 : 0),
    timeoutMs: config.replicaAckTimeoutMs,
  });
  return client;
}
