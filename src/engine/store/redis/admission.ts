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

/**
 * Admission one evacuation at a time across every process: a Redis lock with a holder token and
 * an expiry (SET NX PX), released by a script that checks the token, so a late holder never
 * releases a successor's lock.
 */
export class RedisAdmissionGate implements AdmissionGate {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly options: AdmissionLockOptions = {},
  ) {
    this.key = new Keys(prefix).admission();
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const token = randomUUID();
    const ttl = this.options.ttlMs ?? 120_000;
    const deadline = Date.now() + (this.options.waitMs ?? 60_000);
    while ((await this.redis.set(this.key, token, 'PX', ttl, 'NX')) !== 'OK') {
      if (Date.now() > deadline)
        throw new TimeoutError('another evacuation has been admitting migrations for too long');
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs ?? 25));
    }
    try {
      return await fn();
    } finally {
      await RELEASE_IF_HELD.run(this.redis, [this.key], [token]);
    }
  }
}
