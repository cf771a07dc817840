/** Time is injected, never read from the wall clock inside decisions. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** A clock running `factor` times faster than the wall clock, starting at `start`. */
export function acceleratedClock(factor: number, start = Date.now()): Clock {
  const wallStart = Date.now();
  return {
    now: () => start + (Date.now() - wallStart) * factor,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms / factor)),
  };
}

interface Timer {
  at: number;
  /** How long the sleeper asked for: a poll's length tells it apart from other sleeps. */
  ms: number;
  seq: number;
  resolve: () => void;
}

/**
 * What lets a VirtualClock skip polls that would find nothing new (the event-driven simulator:
 * bench/quiet.ts). A sleep of exactly `pollMs` is a poll of a loop that sleeps it again and again;
 * one due before the horizon is moved to its own cadence's first tick at or after it, as if each
 * tick in between had come and gone without anything to do. Every other sleep wakes on time.
 */
export interface QuietHorizon {
  pollMs: number;
  /**
   * The earliest time, from `now` up to `limit` (the next sleep that is not a poll), at which a
   * poll could find anything changed. Called only while every task sleeps.
   */
  until(now: number, limit: number): Promise<number>;
}

/**
 * Discrete-event virtual time: sleeping tasks wake in time order, and time jumps straight to the
 * next wake-up once every task is waiting. Hours of simulated time run in milliseconds, and the
 * same inputs always give the same interleaving. With a QuietHorizon, polls that would find
 * nothing new are skipped.
 */
export class VirtualClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: Timer[] = [];
  private scheduled = false;

  constructor(
    start = Date.UTC(2026, 0, 1),
    private readonly quiet?: QuietHorizon,
  ) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.timers.push({ at: this.current + Math.max(0, ms), ms, seq: this.seq++, resolve });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after every pending promise continuation: all tasks are asleep by then.
    setImmediate(() => void this.fire());
  }

  private async fire(): Promise<void> {
    if (this.quiet && this.timers.length > 0) await this.skipQuietPolls(this.quiet);
    this.scheduled = false;
    if (this.timers.length === 0) return;
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
    const next = this.timers[0]!.at;
    this.current = Math.max(this.current, next);
    const due = this.timers.filter((t) => t.at <= this.current);
    this.timers = this.timers.filter((t) => t.at > this.current);
    for (const t of due) t.resolve();
    if (this.timers.length > 0) this.schedule();
  }

  /** Moves the polls due before the horizon to their first tick at or after it. */
  private async skipQuietPolls(quiet: QuietHorizon): Promise<void> {
    let limit = Number.POSITIVE_INFINITY;
    let firstPoll = Number.POSITIVE_INFINITY;
    for (const t of this.timers)
      if (t.ms === quiet.pollMs) firstPoll = Math.min(firstPoll, t.at);
      else limit = Math.min(limit, t.at);
    if (firstPoll >= limit || quiet.pollMs <= 0) return;
    const until = Math.min(limit, await quiet.until(this.current, limit));
    for (const t of this.timers)
      if (t.ms === quiet.pollMs && t.at < until) t.at += Math.ceil((until - t.at) / t.ms) * t.ms;
  }
}
