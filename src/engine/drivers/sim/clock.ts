import { acceleratedClock, type Clock } from '../../clock.js';
import type { RemoteSimDriver } from './remote.js';

/**
 * A clock that reads the same time as a sim server running `speed` times faster than the wall
 * clock: every process driving one simulated fleet (workers, the test, a bot) must agree on
 * "now", or a worker taking over would see timestamps from another process's future.
 * Synchronised once from the server's snapshot, to within half a round trip times `speed`.
 */
export async function simClock(driver: RemoteSimDriver, speed: number): Promise<Clock> {
  const sent = Date.now();
  const { at } = await driver.snapshot();
  const received = Date.now();
  // `at` was read about halfway through the round trip.
  return acceleratedClock(speed, at + ((received - sent) / 2) * speed);
}
