import { describe, expect, it } from 'vitest';
import { SchemaVersionError, StoredStateError } from '../../../../src/engine/store/redis/errors.js';
import { decode, encode } from '../../../../src/engine/store/redis/schemas.js';
import { RECORD_VERSIONS, type RecordKind } from '../../../../src/engine/store/redis/version.js';
import { progress, sampleCampaign, sampleEvacuation, sampleRecord } from './fixtures/sample.js';

/**
 * Every kind of record ferry stores has a version (version.ts): written as `v` (none for
 * version 1, the form before versions), read in every older form, and refused when newer than
 * this ferry knows for that kind, with a typed error that names it, never read as an older shape.
 */

const at = 1_700_000_000_000;
const SAMPLES: { [K in RecordKind]: Record<string, unknown> } = {
  evacuation: sampleEvacuation('evac-1') as unknown as Record<string, unknown>,
  migration: sampleRecord('evac-1', 'vm-1') as unknown as Record<string, unknown>,
  event: progress('evac-1', 'vm-1', at) as unknown as Record<string, unknown>,
  approval: {
    id: 'evac-1:vm-1:approval-1',
    evacuationId: 'evac-1',
    migrationId: 'evac-1:vm-1',
    instance: 'vm-1',
    kind: 'postcopy',
    requestedBy: 'U0ALICE',
    requestedAt: at,
    expiresAt: at + 600_000,
  },
  decision: { approvalId: 'evac-1:vm-1:approval-1', outcome: 'approved', decidedBy: 'U0BOB', decidedAt: at },
  audit: { at, who: 'U0ALICE', action: 'pause', target: 'evac-1', via: 'slack' },
  campaign: sampleCampaign('camp-1', at) as unknown as Record<string, unknown>,
  plan: {
    id: 'plan-1',
    nonce: 'n0nce',
    issuedTo: 'U0ALICE',
    issuedAt: at,
    expiresAt: at + 60_000,
    request: { hosts: ['hv1'], when: { kind: 'now' }, requestedBy: 'U0ALICE', maintenance: false },
    plans: [{ source: 'hv1', moves: [], blockers: [], lowerBoundMs: 0, predictedMakespanMs: 0 }],
    assumed: { at, hosts: [], instances: [] },
  },
  fleet: { fleet: { hosts: [], instances: [] }, driver: 'sim', by: 'w1', at },
  fleetFailure: { message: 'nova is down', by: 'w1', at },
  control: { command: 'pause', by: 'U0ALICE' },
  maintenanceAnswer: { answer: 'done', by: 'U0ALICE' },
  recoveryRequest: { by: 'U0ALICE' },
  planUse: { use: 'confirmed', by: 'U0ALICE', at },
};

const kinds = Object.keys(RECORD_VERSIONS) as RecordKind[];

describe('record versions', () => {
  it.each(kinds)('%s: written with its version, read back as it was', (kind) => {
    const raw = encode(kind, SAMPLES[kind] as never);
    const version = RECORD_VERSIONS[kind];
    // Version 1 is the form before versions, byte for byte: what a version-1 ferry wrote and reads.
    expect(raw).toBe(JSON.stringify(version === 1 ? SAMPLES[kind] : { ...SAMPLES[kind], v: version }));
    expect(decode(kind, raw, 'P:key')).toEqual(SAMPLES[kind]);
  });

  it.each(kinds)('%s: the form without a version (version 1) is read', (kind) => {
    expect(decode(kind, JSON.stringify(SAMPLES[kind]), 'P:key')).toEqual(SAMPLES[kind]);
  });

  it.each(kinds)('%s: a newer version is refused with SchemaVersionError, never misread', (kind) => {
    const newer = RECORD_VERSIONS[kind] + 1;
    const read = () => decode(kind, JSON.stringify({ ...SAMPLES[kind], v: newer }), 'P:key');
    expect(read).toThrow(SchemaVersionError);
    expect(read).toThrow(
      `${kind} at P:key in Redis has schema version ${newer}, newer than this ferry understands (${RECORD_VERSIONS[kind]})`,
    );
    try {
      read();
    } catch (err) {
      expect(err).toMatchObject({ code: 'UNSUPPORTED', found: newer, understands: RECORD_VERSIONS[kind] });
    }
  });

  it('refuses a version that is not one, as unreadable', () => {
    for (const v of [0, 1.5, 'two', null])
      expect(() => decode('control', JSON.stringify({ ...SAMPLES.control, v }), 'P:key')).toThrow(
        StoredStateError,
      );
  });
});
