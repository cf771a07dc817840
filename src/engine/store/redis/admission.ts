import { randomUUID } from 'node:crypto';
import { TimeoutError } from '../../errors.js';
import type { AdmissionGate } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { RELEASE_IF_HELD } from './script.js';

export interface AdmissionLockOptions {
  /** A holder that dies keeps the gate this long at most; longer than any admission (a QEMU start). */
  ttlMs?: number;
  /** Give up waiting after this long: the step is retried on the next one. */
  waitMs?: number;
  pollMs?: number;
}

interface Waiting {
  fn: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Admission one evacuation at a time across every process: a Redis lock with a holder token and
 * an expiry (SET NX PX), released by a script that checks the token, so a late holder never
 * releases a successor's lock. Within a process the evacuations that want to admit queue here,
 * and one hold of the lock runs all that are waiting, one after another (a worker's runners step
 * on one tick, so they ask together): one lock taken per tick, not one per evacuation polling
 * Redis every few milliseconds against its neighbours.
 */
export class RedisAdmissionGate implements AdmissionGate {
  private readonly key: string;
  private waiting: Waiting[] = [];
  private draining = false;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly options: AdmissionLockOptions = {},
  ) {
    this.key = new Keys(prefix).admission();
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    const ttl = this.options.ttlMs ?? 120_000;
    try {
      while (this.waiting.length > 0) {
        let token: string;
        try {
          token = await this.acquire(ttl);
        } catch (err) {
          for (const w of this.waiting.splice(0)) w.reject(err);
          continue;
        }
        const heldSince = Date.now();
        try {
          // Within half the lock's life, so that the last of them still holds it.
          while (this.waiting.length > 0 && Date.now() - heldSince < ttl / 2) {
            const w = this.waiting.shift()!;
            await w.fn().then(w.resolve, w.reject);
          }
        } finally {
          await RELEASE_IF_HELD.run(this.redis, [this.key], [token]).catch(() => {
            // Not released: it expires after ttlMs.
          });
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private async acquire(ttl: number): Promise<string> {
    const token = randomUUID();
    const deadline = Date.now() + (this.options.waitMs ?? 60_000);
    while ((await this.redis.set(this.key, token, 'PX', ttl, 'NX')) !== 'OK') {
      if (Date.now() > deadline)
        throw new TimeoutError('another evacuation has been admitting migrations for too long');
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 25));
    }
    return token;
  }
}
