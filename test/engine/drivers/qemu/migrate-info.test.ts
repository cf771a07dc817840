import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  incomingPort,
  migrationInfoSchema,
  sampleFromMigrationInfo,
} from '../../../../src/engine/drivers/qemu/migrate-info.js';

const reference = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');
const loopback = JSON.parse(reference('qemu10_query_migrate_states_loopback.json')) as Record<
  string,
  unknown
>;
const parse = (value: unknown) => migrationInfoSchema.parse(value);

describe('sampleFromMigrationInfo on real QEMU 10 replies', () => {
  it('maps an active pre-copy pass: bytes, bandwidth in bytes/s, pass number, expected downtime', () => {
    const s = sampleFromMigrationInfo(parse(loopback['precopy_active']), 1000);
    expect(s).toMatchObject({
      at: 1000,
      status: 'active',
      totalBytes: 268967936,
      transferredBytes: 168522634,
      remainingBytes: 62259200,
      iteration: 2,
      expectedDowntimeMs: 300,
      dirtyBytesPerS: 0, // QEMU has not measured it yet at the second sync
    });
    expect(s.bandwidthBytesPerS).toBeCloseTo((504.0528461538462 * 1e6) / 8);
  });

  it('reads the dirty rate as pages/s times the page size, and the throttle', () => {
    const s = sampleFromMigrationInfo(parse(loopback['autoconverge_throttled']), 0);
    expect(s.dirtyBytesPerS).toBe(17759 * 4096);
    expect(s.throttlePct).toBe(70);
    expect(s.expectedDowntimeMs).toBe(1882);
  });

  it('reports the actual downtime once completed, and post-copy and cancel states', () => {
    expect(sampleFromMigrationInfo(parse(loopback['precopy_completed']), 0)).toMatchObject({
      status: 'completed',
      downtimeMs: 41,
      remainingBytes: 0,
    });
    expect(sampleFromMigrationInfo(parse(loopback['postcopy_active']), 0).status).toBe('postcopy-active');
    expect(sampleFromMigrationInfo(parse(loopback['cancel_final']), 0)).toMatchObject({
      status: 'cancelled',
      totalBytes: 0,
    });
  });

  it('parses the non-converging reply from qemu-devel and the iotest 183 completion', () => {
    const wrapped = (name: string) => parse((JSON.parse(reference(name)) as { return: unknown }).return);
    const stuck = sampleFromMigrationInfo(
      wrapped('qemu_query_migrate_active_nonconverging_qemu-devel.json'),
      0,
    );
    expect(stuck).toMatchObject({ status: 'active', iteration: 1516, expectedDowntimeMs: 221243 });
    expect(stuck.dirtyBytesPerS).toBe(850637 * 4096);
    const done = sampleFromMigrationInfo(wrapped('qemu_query_migrate_completed_iotest183.json'), 0);
    expect(done).toMatchObject({ status: 'completed', downtimeMs: 2448, iteration: 3 });
  });

  it('takes an empty reply (no migration yet) and the upstream doc examples', () => {
    const docs = JSON.parse(reference('qemu_qapi_query_migrate_doc_examples.json')) as Record<
      string,
      { return: unknown }
    >;
    expect(sampleFromMigrationInfo(parse(docs['before_first_migration']!.return), 0).status).toBe('setup');
    expect(sampleFromMigrationInfo(parse(docs['failed']!.return), 0).status).toBe('failed');
    expect(sampleFromMigrationInfo(parse(docs['active_xbzrle']!.return), 0).remainingBytes).toBe(1053304);
  });

  it('rejects a reply whose numbers are not numbers', () => {
    expect(() => parse({ status: 'active', ram: { total: '1', transferred: 0, remaining: 0 } })).toThrow();
    expect(() => parse({ status: 'sideways' })).toThrow();
  });

  it('finds the port a migrate-incoming on port 0 listens on', () => {
    expect(
      incomingPort(
        parse({ status: 'setup', 'socket-address': [{ type: 'inet', host: '127.0.0.1', port: '40123' }] }),
      ),
    ).toBe(40123);
    expect(incomingPort(parse({ status: 'setup' }))).toBeUndefined();
  });
});
