import { Redis } from 'ioredis';
import { RedisStore } from '../../src/engine/store/redis/store.js';
import { progress, sampleEvacuation, sampleRecord } from '../engine/store/redis/fixtures/sample.js';

/**
 * Commits batch after batch to one evacuation until killed: batch k writes the record with
 * `passes: k` and 5 events with `at: k`. Args: URL PREFIX EVACUATION_ID. Prints `committed 1`.
 */
const [url, prefix, id] = process.argv.slice(2) as [string, string, string];
const redis = new Redis(url, { maxRetriesPerRequest: null });
const store = new RedisStore(redis, prefix);
for (let k = 1; ; k++) {
  await store.commit({
    evacuation: { ...sampleEvacuation(id), startedAt: k },
    migrations: [sampleRecord(id, 'vm-1', k)],
    events: [1, 2, 3, 4, 5].map(() => progress(id, 'vm-1', k)),
  });
  if (k === 1) process.stdout.write('committed 1\n');
}
