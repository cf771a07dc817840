import type { Clock } from '../clock.js';

/**
 * One timer for every evacuation a worker process runs. Each runner waits for the next tick
 * instead of sleeping on its own, so all of them step together, and what their steps ask of Redis
 * and of the driver in that moment goes out batched (see batch.ts): one watch loop per worker, not
 * one per evacuation. Ticks are at least one interval apart and a runner never steps twice on
 * the same tick, so its steps stay at least an interval apart, as with its own sleep; one whose
 * step overran a tick steps again at once.
 */
export class Ticker {
  private count = 0;
  private pending?: Promise<number>;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  /** A runner's pace: each call resolves at the first tick after the one its last step ran on. */
  pace(): () => Promise<void> {
    let last = this.count;
    return async () => {
      last = await this.after(last);
    };
  }

  private after(last: number): Promise<number> {
    if (this.count > last) return Promise.resolve(this.count);
    this.pending ??= this.clock.sleep(this.intervalMs).then(() => {
      this.pending = undefined;
      return ++this.count;
    });
    return this.pending;
  }
}
