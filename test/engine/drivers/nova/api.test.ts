import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { NovaApi, versionRootUrl } from '../../../../src/engine/drivers/nova/api.js';
import { novaConfigSchema } from '../../../../src/engine/drivers/nova/config.js';
import { countersOf, RateEstimator, sampleStatus } from '../../../../src/engine/drivers/nova/progress.js';
import { serverMigrationResponseSchema } from '../../../../src/engine/drivers/nova/schemas.js';
import { DriverReplyError, FerryError } from '../../../../src/engine/errors.js';
import { NovaStub, novaTestConfig } from '../../../support/nova-stub.js';

const reference = (name: string) =>
  JSON.parse(readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8'));

let stub: NovaStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

describe('microversion negotiation', () => {
  it('refuses an old cloud clearly, before making any other call', async () => {
    stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }], maxMicroversion: '2.60' });
    const api = new NovaApi({ config: novaTestConfig(stub), clock: systemClock });
    const err = await api.hypervisors().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('UNSUPPORTED');
    expect((err as FerryError).userMessage).toMatch(
      /supports microversions 2\.1 to 2\.60; ferry needs 2\.80 .*first shipped in Ussuri.*upgrade Nova \(Ussuri or later\)/,
    );
    expect(stub.count('GET', /os-hypervisors/)).toBe(0);
  });

  it('discovers once, then sends the microversion in both headers on every call', async () => {
    stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }] });
    const api = new NovaApi({ config: novaTestConfig(stub), clock: systemClock });
    await api.hypervisors();
    await api.computeServices();
    const compute = stub.calls.filter((c) => c.service === 'compute');
    expect(compute.map((c) => c.path)).toEqual([
      '/',
      '/os-hypervisors/detail',
      '/os-services?binary=nova-compute',
    ]);
    expect(compute.slice(1).every((c) => c.microversion === '2.80')).toBe(true);
  });

  it('finds the version document behind an endpoint with a project id', () => {
    expect(versionRootUrl('https://nova.example/compute/v2.1/abc123')).toBe(
      'https://nova.example/compute/v2.1/',
    );
    expect(versionRootUrl('https://nova.example:8774/v2.1')).toBe('https://nova.example:8774/v2.1/');
  });
});

describe('reply validation', () => {
  it('names the field of a reply with a wrong type instead of crashing', async () => {
    stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }] });
    const api = new NovaApi({ config: novaTestConfig(stub), clock: systemClock });
    stub.mutateNext({
      method: 'GET',
      path: /^\/os-hypervisors\/detail/,
      mutate: (body) => {
        (body.hypervisors as Record<string, unknown>[])[1]!.vcpus = 'sixty-four';
      },
    });
    const err = await api.hypervisors().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverReplyError);
    expect((err as DriverReplyError).userMessage).toMatch(
      /Nova GET \/os-hypervisors\/detail answered an unexpected shape: hypervisors\[1\]\.vcpus: .*expected number/,
    );
    // The next, well-formed reply is read normally.
    expect(await api.hypervisors()).toHaveLength(2);
  });

  it('reads the real 2.80 server-migration sample, and refuses it with a byte counter as text', () => {
    const sample = reference('nova_v2.80_server_migrations_get.json');
    const migration = serverMigrationResponseSchema.parse(sample).migration;
    expect(countersOf(migration)).toEqual({
      totalBytes: 123456 + 234567,
      transferredBytes: 12345 + 23456,
      remainingBytes: 111111 + 211111,
    });
    sample.migration.memory_remaining_bytes = '111111';
    expect(serverMigrationResponseSchema.safeParse(sample).error?.issues[0]?.path).toEqual([
      'migration',
      'memory_remaining_bytes',
    ]);
  });
});

describe('config', () => {
  const base = {
    authUrl: 'https://keystone.example/v3',
    auth: { type: 'password', username: 'u', password: 'p', projectName: 'ops' },
  };

  it('defaults to the internal interface, microversion 2.80 and ferry choosing destinations', () => {
    expect(novaConfigSchema.parse(base)).toMatchObject({
      interface: 'internal',
      microversion: '2.80',
      scheduler: 'ferry',
      requestTimeoutS: 30,
    });
  });

  it('refuses microversions the driver cannot read, and incomplete credentials', () => {
    expect(novaConfigSchema.safeParse({ ...base, microversion: '2.60' }).success).toBe(false);
    expect(novaConfigSchema.safeParse({ ...base, microversion: '2.105' }).success).toBe(false);
    expect(novaConfigSchema.safeParse({ ...base, microversion: '2.104' }).success).toBe(true);
    const noUser = { type: 'application_credential', name: 'ferry-app', secret: 's' };
    expect(novaConfigSchema.safeParse({ ...base, auth: noUser }).error?.issues[0]?.message).toMatch(
      /needs userId or username/,
    );
    const both = { ...base.auth, projectId: 'abc' };
    expect(novaConfigSchema.safeParse({ ...base, auth: both }).success).toBe(false);
  });
});

describe('progress mapping', () => {
  it('maps Nova statuses onto ferry statuses and rejects unknown ones', () => {
    // Nothing moves before the compute runs the job; post-copy and the clean-up after it are switchovers.
    expect(['accepted', 'queued', 'preparing'].map(sampleStatus)).toEqual(['setup', 'setup', 'setup']);
    expect(sampleStatus('running')).toBe('active');
    expect(sampleStatus('running (post-copy)')).toBe('postcopy-active');
    expect(sampleStatus('post-migrating')).toBe('device');
    expect(sampleStatus('completed')).toBe('completed');
    expect([sampleStatus('error'), sampleStatus('failed')]).toEqual(['failed', 'failed']);
    expect(sampleStatus('cancelled')).toBe('cancelled');
    expect(() => sampleStatus('sideways')).toThrow(DriverReplyError);
  });

  it('estimates bandwidth, passes and dirty rate from successive counters', () => {
    const e = new RateEstimator();
    const c = (transferredBytes: number, remainingBytes: number) => ({
      totalBytes: 1000,
      transferredBytes,
      remainingBytes,
    });
    expect(e.observe(0, c(100, 900)).iteration).toBe(1);
    expect(e.observe(1000, c(300, 700))).toEqual({
      bandwidthBytesPerS: 200,
      dirtyBytesPerS: 0,
      iteration: 1,
    });
    // remaining jumps: a second pass with the 800 bytes dirtied over the 2 s since the first began
    expect(e.observe(2000, c(500, 800))).toEqual({
      bandwidthBytesPerS: 200,
      dirtyBytesPerS: 400,
      iteration: 2,
    });
    // a sparse sample: 900 sent while 800 remained, so a third pass began (100 of it sent, 200 left)
    expect(e.observe(4000, c(1400, 200))).toEqual({
      bandwidthBytesPerS: 450,
      dirtyBytesPerS: 150,
      iteration: 3,
    });
  });
});
