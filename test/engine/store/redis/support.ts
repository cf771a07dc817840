import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { FerryEvent } from '../../../../src/engine/model.js';

/** A prefix no other test uses: tests share one redis-server and never see each other's keys. */
export function freshPrefix(): string {
  return `{t-${randomUUID().slice(0, 8)}}`;
}

/** A client the way ferry opens them (waits through disconnects instead of failing commands). */
export function client(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 100 });
  redis.on('error', () => {});
  return redis;
}

export { type Child, spawnTs } from '../../../processes/spawn.js';

export const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

/**
 * No gap and no duplicate: every migration started at most once, every one ended at most once,
 * every started one ended (a pending one dropped by an abort ends without starting), and the
 * evacuation finished once, last.
 */
export function expectCompleteStream(events: FerryEvent[]): void {
  const started = ofType(events, 'migration.started').map((e) => e.migrationId);
  const ended = events.flatMap((e) =>
    e.type === 'migration.completed' || e.type === 'migration.failed' || e.type === 'migration.aborted'
      ? [e.migrationId]
      : [],
  );
  expect(new Set(started).size, 'a migration started twice').toBe(started.length);
  expect(new Set(ended).size, 'a migration ended twice').toBe(ended.length);
  for (const id of started) expect(ended, `${id} started but never ended`).toContain(id);
  expect(ofType(events, 'evacuation.finished')).toHaveLength(1);
  expect(events.at(-1)?.type).toBe('evacuation.finished');
}

export { until } from '../../../support/until.js';
