import { Cluster } from 'ioredis';
import { FerryError } from '../../errors.js';
import type { RedisClient } from './config.js';

/**
 * What ferry acknowledges survives a failover. Redis replicates asynchronously: a primary that
 * dies can take its last writes with it, and Sentinel or the Cluster then promotes a replica
 * that never saw them (an evacuation confirmed in Slack, an approval, a step's events). So after
 * every write that ferry acknowledges — a step commit, an evacuation launched, an approval
 * recorded, a host lock taken, an operator's command — it sends WAIT: the write counts only once
 * `replicas` replicas have it. Sentinel and the Cluster promote the most up-to-date replica, so a
 * write a replica acknowledged is on the new primary.
 *
 * When too few replicas answer within the timeout the write stands on the primary but is not
 * acknowledged: a ReplicaAckError (retryable) fails that step, which the runner retries (its
 * commits are idempotent). Durability over availability: with no replica left, ferry waits.
 *
 * The requirement belongs to the client (set by `connect` from the config), so every port built
 * on it confirms its writes and a client opened without one (a single Redis) costs nothing.
 */

export interface ReplicaAckOptions {
  /** Replicas that must hold a write before ferry acknowledges it (0: do not wait). */
  replicas: number;
  timeoutMs: number;
}

const requirements = new WeakMap<RedisClient, ReplicaAckOptions>();

/** Makes every ferry write on `client` wait for `options.replicas` replicas. */
export function requireReplicas(client: RedisClient, options: ReplicaAckOptions): void {
  if (options.replicas > 0) requirements.set(client, options);
}

/**
 * Gives `copy` (a duplicate of `client`) the same requirement: the one `connect` set or, for a
 * host's own Sentinel or Cluster client, one replica within 2 s (the config's default).
 */
export function inheritReplicas(client: RedisClient, copy: RedisClient): void {
  const options = requirements.get(client);
  const highlyAvailable = client instanceof Cluster || (client.options.sentinels?.length ?? 0) > 0;
  if (options) requirements.set(copy, options);
  else if (highlyAvailable) requirements.set(copy, { replicas: 1, timeoutMs: 2000 });
}

/** Too few replicas confirmed a write in time: retryable, the write itself is idempotent. */
export class ReplicaAckError extends FerryError {
  constructor(what: string, acked: number, options: ReplicaAckOptions) {
    super(
      'DRIVER_UNREACHABLE',
      `Redis: ${what} reached ${acked} of ${options.replicas} replica(s) within ${options.timeoutMs} ms; not acknowledged yet, retried`,
      { retryable: true },
    );
  }
}

/**
 * Waits until the writes this client made so far are on enough replicas. `key` is one of the
 * keys just written: on a Cluster, WAIT must reach the primary that took the write, and a
 * pipeline goes to the node of its keys' slot (every ferry key shares one hash tag).
 */
export async function confirmReplicated(client: RedisClient, key: string, what: string): Promise<void> {
  await acknowledge(client, key, what, false);
}

/**
 * Waits until what the primary holds now — whatever this client just read there — is on enough
 * replicas. A read is only as durable as the primary that answered it: a write that another
 * process (or this one) could not get acknowledged stands on the primary until a failover takes
 * it away, and a reader that acts on it (a runner resuming from it, a bot showing "completed")
 * would act on something that never happened. So such a reader writes `marker` and WAITs: the
 * replication stream is ordered, and a replica holding the marker holds everything before it.
 */
export async function confirmSettled(client: RedisClient, marker: string, what: string): Promise<void> {
  await acknowledge(client, marker, what, true);
}

/**
 * One round trip: (a touch of `key`, or a look at it) and WAIT, on the node that owns `key`. A
 * pipeline, also on a single node: the client re-sends a lone command left unanswered by a
 * dropped connection, and a WAIT re-sent on the new primary's fresh connection would confirm
 * nothing (that connection wrote nothing); a pipeline cut in half is rejected instead, so the
 * write counts as not acknowledged.
 */
async function acknowledge(client: RedisClient, key: string, what: string, touch: boolean): Promise<void> {
  const options = requirements.get(client);
  if (!options) return;
  const pipeline = client.pipeline();
  if (touch) pipeline.set(key, '1', 'PX', 60_000);
  else pipeline.exists(key);
  const replies = await pipeline.wait(options.replicas, options.timeoutMs).exec();
  for (const [err] of replies ?? []) if (err) throw err;
  const acked = Number(replies?.[1]?.[1] ?? 0);
  if (acked < options.replicas) throw new ReplicaAckError(what, acked, options);
}
