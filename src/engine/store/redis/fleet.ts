import { DriverUnreachableError, toFerryError } from '../../errors.js';
import type { Log } from '../../log.js';
import type { Fleet } from '../../model.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { decode, encode } from './schemas.js';

/**
 * The fleet as the workers see it, published in Redis, so that a bot mounted with
 * `worker: false` plans without a driver of its own (and without the driver's credentials).
 * Every process that runs a worker reads its driver's inventory every `fleetPublishMs` and
 * writes it here with a TTL of a few periods: a bot that finds no snapshot knows no worker is
 * running, and says so at once instead of planning on a fleet nobody watches. A plan made on a
 * snapshot a few seconds old is safe: the worker that runs it checks the fleet it assumed
 * against its driver before moving anything (planning/revalidate.ts).
 */

/** How many publishing periods a snapshot outlives: a slow inventory or two is not "no worker". */
export const FLEET_TTL_PERIODS = 4;

export interface FleetSnapshot {
  fleet: Fleet;
  /** The publishing worker's driver kind: a bot configured for another is refused. */
  driver: string;
  /** The publishing worker's name. */
  by: string;
  /** Wall-clock ms of the inventory. */
  at: number;
}

/** The published fleet in Redis: written by workers, read by bots. */
export class RedisFleet {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async publish(snapshot: FleetSnapshot, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.fleet(), encode('fleet', snapshot), 'PX', ttlMs);
  }

  /** A worker whose inventory failed says why, so a bot can tell "no worker" from "the back end is down". */
  async publishFailure(failure: { message: string; by: string; at: number }, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.fleetFailure(), encode('fleetFailure', failure), 'PX', ttlMs);
  }

  async latest(): Promise<{ snapshot?: FleetSnapshot; failure?: { message: string; by: string } }> {
    const [snapshot, failure] = await Promise.all([
      this.redis.get(this.keys.fleet()),
      this.redis.get(this.keys.fleetFailure()),
    ]);
    return {
      snapshot: snapshot === null ? undefined : decode('fleet', snapshot, this.keys.fleet()),
      failure: failure === null ? undefined : decode('fleetFailure', failure, this.keys.fleetFailure()),
    };
  }
}

/**
 * The inventory a bot without a driver plans on: the workers' latest snapshot, or a clear
 * refusal (no worker running, the workers' back end failing, a worker on another driver).
 */
export function publishedInventory(
  fleet: RedisFleet,
  expect: { driver: string; publishMs: number },
): { inventory(): Promise<Fleet> } {
  return {
    async inventory() {
      const { snapshot, failure } = await fleet.latest();
      if (!snapshot) {
        const seconds = Math.ceil((expect.publishMs * FLEET_TTL_PERIODS) / 1000);
        throw new DriverUnreachableError(
          failure
            ? `the workers cannot read the fleet: ${failure.by} says "${failure.message}"; nothing was planned`
            : `no ferry-worker is running: none has published the fleet in the last ${seconds} s (this bot runs no worker of its own); start ferry-worker, then ask again`,
        );
      }
      if (snapshot.driver !== expect.driver)
        throw new DriverUnreachableError(
          `the workers run the ${snapshot.driver} driver but this bot's config says fleet.driver: ${expect.driver}; give both the same config`,
        );
      return snapshot.fleet;
    },
  };
}

/**
 * A worker's side: reads the driver's inventory now and every `publishMs`, and publishes it (or
 * why it failed). Stops with `stop()`; a Redis or driver failure is logged and tried again next period.
 */
export function publishFleet(options: {
  fleet: RedisFleet;
  driver: { kind: string; inventory(): Promise<Fleet> };
  by: string;
  publishMs: number;
  log?: Log;
}): { stop(): void } {
  const { fleet, driver, by, publishMs } = options;
  const ttlMs = publishMs * FLEET_TTL_PERIODS;
  let running = false;
  const once = async () => {
    // One at a time: a slow back end must not pile inventories up.
    if (running) return;
    running = true;
    try {
      const at = Date.now();
      let inventory: Fleet;
      try {
        inventory = await driver.inventory();
      } catch (err) {
        await fleet.publishFailure({ message: toFerryError(err).userMessage, by, at }, ttlMs);
        return;
      }
      await fleet.publish({ fleet: inventory, driver: driver.kind, by, at }, ttlMs);
    } catch (err) {
      options.log?.(`publishing the fleet failed: ${toFerryError(err).message}`, { level: 'warn' });
    } finally {
      running = false;
    }
  };
  void once();
  const timer = setInterval(() => void once(), publishMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
