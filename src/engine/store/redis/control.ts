import { Batcher } from '../../batch.js';
import type { ControlChannel, ControlCommand, MaintenanceAnswer } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode, encode } from './schemas.js';

/**
 * Pause / resume / abort for a running evacuation, from any replica: the latest command is one
 * key the runner reads at every step, wherever it runs. Maintenance answers and post-copy
 * recovery requests are one key per attempt, read by the runner the same way.
 */
export class RedisControl implements ControlChannel {
  private readonly keys: Keys;
  /** The reads of the runners that step together (a worker's tick): one MGET. */
  private readonly reads: Batcher<string, string | null>;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
    this.reads = new Batcher((keys) => this.redis.mget(...keys));
  }

  async current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined> {
    const key = this.keys.control(evacuationId);
    const raw = await this.reads.call(key);
    return raw === null ? undefined : decode('control', raw, key);
  }

  async set(evacuationId: string, command: ControlCommand, by: string): Promise<void> {
    const key = this.keys.control(evacuationId);
    await this.redis.set(key, encode('control', { command, by }));
    await confirmReplicated(this.redis, key, 'an operator command');
  }

  async maintenanceAnswer(evacuationId: string, attempt: number) {
    const key = this.keys.maintenanceAnswer(evacuationId, attempt);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('maintenanceAnswer', raw, key);
  }

  /** SET NX: the first answer to an attempt stands, whichever replica records it. */
  async answerMaintenance(evacuationId: string, attempt: number, answer: MaintenanceAnswer, by: string) {
    await this.redis.set(
      this.keys.maintenanceAnswer(evacuationId, attempt),
      encode('maintenanceAnswer', { answer, by }),
      'NX',
    );
  }

  async recoveryRequest(migrationId: string, attempt: number) {
    const key = this.keys.recoveryRequest(migrationId, attempt);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('recoveryRequest', raw, key);
  }

  /** SET NX then GET: the first request of an attempt stands, whichever replica records it. */
  async requestRecovery(migrationId: string, attempt: number, by: string) {
    const key = this.keys.recoveryRequest(migrationId, attempt);
    await this.redis.set(key, encode('recoveryRequest', { by }), 'NX');
    await confirmReplicated(this.redis, key, 'a recovery request');
    const stands = await this.recoveryRequest(migrationId, attempt);
    if (!stands) throw new Error(`${key} vanished right after it was written`);
    return stands;
  }
}
