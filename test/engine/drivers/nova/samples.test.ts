import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../../../../src/engine/clock.js';
import {
  MAX_MICROVERSION,
  MIN_MICROVERSION,
  novaConfigSchema,
} from '../../../../src/engine/drivers/nova/config.js';
import { NovaDriver } from '../../../../src/engine/drivers/nova/driver.js';
import { parseReply } from '../../../../src/engine/drivers/nova/http.js';
import { authRequestBody } from '../../../../src/engine/drivers/nova/keystone.js';
import * as schema from '../../../../src/engine/drivers/nova/schemas.js';
import { DriverReplyError, ForbiddenError } from '../../../../src/engine/errors.js';
import { NovaStub, novaTestConfig } from '../../../support/nova-stub.js';

/**
 * Every sample of Nova's and Placement's own API docs (../shared/reference/, one folder per API
 * and one subfolder per microversion) is accounted for: a reply ferry reads is fed through its
 * schema, a request ferry sends is compared with what it sends, anything else says why ferry
 * does not read it. A Nova sample holds from its folder's microversion until a later folder has
 * the same file: those in force anywhere in 2.80..2.104 must parse; the older ones may be
 * refused, and then with a message that names the field.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
const reference = join(here, '../../../../../shared/reference');
const NOVA = join(reference, 'nova-api-samples');
const PLACEMENT = join(reference, 'placement-api-samples');

type Use = { read: z.ZodType; what: string } | { request: string } | { unused: string };

/** GET of one resource: the list entry's shape under a singular key. */
const serverGroupResponse = z.object({ server_group: schema.serverGroupSchema });
const hypervisorResponse = z.object({ hypervisor: schema.hypervisorSchema });

/** What ferry does with each sample, by API folder and file name. */
function useOf(api: string, file: string): Use | undefined {
  const rules: [string, RegExp, Use][] = [
    [
      'keystone',
      /-response\.json$/,
      { read: schema.tokenResponseSchema, what: 'Keystone POST /v3/auth/tokens' },
    ],
    ['keystone', /-request\.json$/, { request: 'authRequestBody' }],
    [
      'os-availability-zone',
      /^availability-zone-(detail|list)-resp/,
      { read: schema.availabilityZoneListSchema, what: 'Nova GET /os-availability-zone/detail' },
    ],
    [
      'os-hypervisors',
      /^hypervisors-detail(-with-servers)?-resp/,
      { read: schema.hypervisorListSchema, what: 'Nova GET /os-hypervisors/detail' },
    ],
    [
      'os-hypervisors',
      /^hypervisors-show(-with-servers)?-resp/,
      { read: hypervisorResponse, what: 'Nova GET /os-hypervisors/{id}' },
    ],
    [
      'os-hypervisors',
      /^hypervisors-(list|search|statistics|uptime|with-servers|without-servers)-resp/,
      { unused: 'ferry reads hypervisors from /os-hypervisors/detail only' },
    ],
    [
      'os-instance-actions',
      /^instance-actions-list/,
      { read: schema.instanceActionListSchema, what: 'Nova GET /servers/{id}/os-instance-actions' },
    ],
    [
      'os-instance-actions',
      /^instance-action-get/,
      { read: schema.instanceActionDetailSchema, what: 'Nova GET /servers/{id}/os-instance-actions/{req}' },
    ],
    ['os-migrate-server', /^live-migrate-server/, { request: 'os-migrateLive' }],
    ['os-migrate-server', /^migrate-server/, { unused: 'cold migration: ferry live-migrates only' }],
    [
      'os-migrations',
      /^migrations-get/,
      { read: schema.migrationRecordListSchema, what: 'Nova GET /os-migrations' },
    ],
    [
      'os-server-groups',
      /-list-resp/,
      { read: schema.serverGroupListSchema, what: 'Nova GET /os-server-groups' },
    ],
    ['os-server-groups', /-get-resp/, { read: serverGroupResponse, what: 'Nova GET /os-server-groups/{id}' }],
    ['os-server-groups', /-post-/, { unused: 'ferry creates no server groups' }],
    [
      'os-services',
      /^services-list-get-resp/,
      { read: schema.serviceListSchema, what: 'Nova GET /os-services' },
    ],
    [
      'os-services',
      /^service-(disable-log|enable)-put-resp/,
      { read: schema.serviceResponseSchema, what: 'Nova PUT /os-services/{id}' },
    ],
    ['os-services', /^service-(disable-log|enable)-put-req/, { request: 'os-services' }],
    [
      'os-services',
      /^service-(disable|force-down)-put-/,
      { unused: 'ferry always disables with a reason and never forces a service down' },
    ],
    [
      'server-migrations',
      /^migrations-get/,
      { read: schema.serverMigrationResponseSchema, what: 'Nova GET /servers/{id}/migrations/{mid}' },
    ],
    [
      'server-migrations',
      /^migrations-index/,
      { read: schema.serverMigrationListSchema, what: 'Nova GET /servers/{id}/migrations' },
    ],
    ['server-migrations', /^force_complete/, { request: 'force_complete' }],
    ['server-migrations', /^live-migrate-server/, { request: 'os-migrateLive' }],
    [
      'servers',
      /^server-get(-down-cell)?-resp/,
      { read: schema.serverResponseSchema, what: 'Nova GET /servers/{id}' },
    ],
    [
      'servers',
      /^servers-details(-with-changes-before)?-resp|^servers-details-with-changes-before/,
      { read: schema.serverListSchema, what: 'Nova GET /servers/detail' },
    ],
    ['servers', /^servers-list/, { unused: 'ferry lists servers with /servers/detail only' }],
    [
      'servers',
      /./,
      { unused: 'server create, update and actions other than os-migrateLive: ferry sends none' },
    ],
    ['versions', /version/, { read: schema.versionDiscoverySchema, what: 'Nova version discovery' }],
    [
      'inventories',
      /^get-inventories/,
      { read: schema.inventoriesSchema, what: 'Placement GET /resource_providers/{uuid}/inventories' },
    ],
    [
      'resource_provider_usages',
      /./,
      { read: schema.usagesSchema, what: 'Placement GET /resource_providers/{uuid}/usages' },
    ],
    ['inventories', /^get-inventory\.json/, { unused: 'ferry reads all inventories of a provider at once' }],
    [
      'resource_providers',
      /./,
      { unused: 'the compute node UUID (hypervisor id) is the provider UUID: no lookup' },
    ],
    ['resource_provider_allocations', /./, { unused: 'usages already sum the allocations' }],
    ['resource_provider_traits', /./, { unused: 'ferry places by CPU model and zone, not traits' }],
    ['usages', /./, { unused: 'project usages: ferry reads per-provider usages' }],
    ['root', /./, { unused: 'Placement 1.0 shapes suffice: no version negotiation' }],
  ];
  return rules.find(([folder, pattern]) => folder === api && pattern.test(file))?.[2];
}

interface Sample {
  path: string;
  api: string;
  file: string;
  /** The microversion its folder names (2.1 for the root), Nova samples only. */
  since?: string;
  /** Until (excluded) a later folder has the same file. */
  until?: string;
  body: unknown;
}

const cmp = (a: string, b: string) => {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function samples(root: string, microversioned: boolean): Sample[] {
  const all = walk(root).map((path): Sample => {
    const parts = relative(root, path).split('/');
    const api = parts[0]!;
    const file = parts.at(-1)!;
    const folder = parts.length === 3 ? parts[1]! : undefined;
    return {
      path: relative(reference, path),
      api,
      file,
      since: microversioned ? (folder?.replace(/^v/, '') ?? '2.1') : undefined,
      body: JSON.parse(readFileSync(path, 'utf8')),
    };
  });
  if (microversioned)
    for (const s of all) {
      const later = all
        .filter((o) => o.api === s.api && o.file === s.file && cmp(o.since!, s.since!) > 0)
        .map((o) => o.since!)
        .sort(cmp)[0];
      s.until = later;
    }
  return all;
}

const nova = samples(NOVA, true);
const placement = samples(PLACEMENT, false);
/** In force somewhere in the range ferry speaks (keystone and placement: always). */
const inRange = (s: Sample) =>
  s.since === undefined ||
  (cmp(s.since, MAX_MICROVERSION) <= 0 && (s.until === undefined || cmp(s.until, MIN_MICROVERSION) > 0));

describe('Nova and Placement reference samples through the driver', () => {
  const every = [...nova, ...placement];

  it('knows what to do with every sample', () => {
    expect(nova.length).toBeGreaterThan(250);
    expect(every.filter((s) => !useOf(s.api, s.file)).map((s) => s.path)).toEqual([]);
  });

  const reads = every.filter((s) => 'read' in (useOf(s.api, s.file) ?? {}));
  it.each(reads.filter(inRange).map((s) => [s.path, s] as const))('reads %s', (_path, s) => {
    const use = useOf(s.api, s.file) as { read: z.ZodType; what: string };
    expect(() => parseReply(use.read, s.body, use.what)).not.toThrow();
  });

  it('refuses what it cannot use, naming the field (shapes in force only before 2.80)', () => {
    const old = reads.filter((s) => !inRange(s));
    const refused = old.flatMap((s) => {
      const use = useOf(s.api, s.file) as { read: z.ZodType; what: string };
      try {
        parseReply(use.read, s.body, use.what);
        return [];
      } catch (err) {
        expect(err, s.path).toBeInstanceOf(DriverReplyError);
        // "<what> answered an unexpected shape: <field path>: <reason>"
        expect((err as DriverReplyError).userMessage, s.path).toMatch(
          /answered an unexpected shape: [\w.:[\]-]+: \S/,
        );
        return [s.path];
      }
    });
    // Integer hypervisor ids (before 2.53), a list of policies (before 2.64), no migration_type
    // (before 2.23): each is refused, and the config refuses those microversions anyway.
    expect(refused).toEqual(
      expect.arrayContaining([
        'nova-api-samples/os-hypervisors/hypervisors-detail-resp.json',
        'nova-api-samples/os-server-groups/server-groups-list-resp.json',
        'nova-api-samples/os-migrations/migrations-get.json',
      ]),
    );
    expect(
      novaConfigSchema.safeParse({
        authUrl: 'https://k.example/v3',
        auth: { type: 'password', username: 'u', password: 'p', projectId: 'x' },
        microversion: '2.79',
      }).error?.issues[0]?.message,
    ).toMatch(/2\.80 to 2\.104/);
  });

  it("refuses a non-admin's view (the 2.90+ samples hide OS-EXT-SRV-ATTR:host), naming the policy", () => {
    const view = nova.find((s) => s.path.endsWith('servers/v2.90/servers-details-resp.json'))!;
    const server = parseReply(schema.serverListSchema, view.body, 'x').servers[0]!;
    expect(schema.isDownCell(server)).toBe(false);
    expect(() => schema.hostOf(server as schema.Server)).toThrow(ForbiddenError);
    expect(() => schema.hostOf(server as schema.Server)).toThrow(
      /os_compute_api:os-extended-server-attributes/,
    );
  });

  it('a v2.0 root without microversions is refused by discovery, not misread', () => {
    const v2 = nova.find((s) => s.path.endsWith('versions/v2-version-get-resp.json'))!;
    const doc = parseReply(schema.versionDiscoverySchema, v2.body, 'discovery');
    expect('version' in doc && doc.version.version).toBe('');
  });

  it('reads a down-cell server and service as UNKNOWN records, not as servers and services', () => {
    const server = parseReply(
      schema.serverResponseSchema,
      nova.find((s) => s.file === 'server-get-down-cell-resp.json')!.body,
      'x',
    ).server;
    expect(schema.isDownCell(server)).toBe(true);
    const services = parseReply(
      schema.serviceListSchema,
      nova.find((s) => s.path.includes('v2.69/services-list'))!.body,
      'x',
    ).services;
    expect(services.every(schema.isDownCell)).toBe(true);
  });
});

describe('what ferry sends, against the samples of those requests', () => {
  let stub: NovaStub;
  beforeAll(async () => {
    stub = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
      servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 1024, dirtyBytesPerS: 0 }],
      bandwidthBytesPerS: 1024 ** 2, // slow: the migration is still running when force_complete comes
    });
  });
  afterAll(() => stub.close());
  const sample = (path: string) => nova.find((s) => s.path === `nova-api-samples/${path}`)!.body;
  const shape = (body: unknown): unknown =>
    body && typeof body === 'object'
      ? Object.fromEntries(Object.entries(body).map(([k, v]) => [k, shape(v)]))
      : typeof body;

  it('Keystone application-credential requests are the samples', () => {
    const parse = (auth: unknown) => novaConfigSchema.shape.auth.parse(auth);
    expect(
      authRequestBody(
        parse({
          type: 'application_credential',
          id: '423f19a4ac1e4f48bbb4180756e6eb6c',
          secret: 'rEaqvJka48mpv',
        }),
      ),
    ).toEqual(sample('keystone/auth-application-credential-id-request.json'));
    expect(
      authRequestBody(
        parse({
          type: 'application_credential',
          name: 'monitoring',
          secret: 'rEaqvJka48mpv',
          userId: '423f19a4ac1e4f48bbb4180756e6eb6c',
        }),
      ),
    ).toEqual(sample('keystone/auth-application-credential-name-request.json'));
  });

  it('os-services, os-migrateLive (2.68) and force_complete bodies have the samples’ shapes', async () => {
    const driver = new NovaDriver({
      config: novaTestConfig(stub),
      clock: { now: () => stub.now(), sleep: systemClock.sleep },
      pollMs: 20,
    });
    await driver.setSchedulable('cmp-1', false, 'maintenance');
    await driver.setSchedulable('cmp-1', true, 'done');
    const puts = stub.calls.filter((c) => c.method === 'PUT').map((c) => c.body);
    expect(puts).toEqual([
      sample('os-services/v2.53/service-disable-log-put-req.json'),
      sample('os-services/v2.53/service-enable-put-req.json'),
    ]);
    const handle = await driver.start(
      { migrationId: 'e:vm-1', instance: 'vm-1', from: 'cmp-1', to: 'cmp-2' },
      { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: true },
    );
    const live = stub.calls.find((c) => c.action === 'os-migrateLive')!.body;
    expect(shape(live)).toEqual(shape(sample('os-migrate-server/v2.68/live-migrate-server.json')));
    stub.advance(1000);
    await driver.switchToPostCopy(handle);
    expect(stub.calls.find((c) => c.action === 'force_complete')!.body).toEqual(
      sample('server-migrations/v2.22/force_complete.json'),
    );
    await driver.close();
  });
});
