import type { ControlChannel, ControlCommand, MaintenanceAnswer } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode, encode } from './schemas.js';

/**
 * Pause / resume / abort for a running evacuation, from any replica: the latest command is one
 * key the runner reads at every step, wherever it runs.
 */
export class RedisControl implements ControlChannel {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined> {
    const key = this.keys.control(evacuationId);
    const raw = await this.redis.get(key);
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
}
