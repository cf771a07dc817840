import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NovaStub } from '../../../support/nova-stub.js';

/**
 * The stand-in itself against Nova's samples and rules: it writes no field Nova does not (so a
 * driver test cannot lean on an invented one), and it answers errors as Nova does.
 */

const sample = (path: string) =>
  JSON.parse(
    readFileSync(
      new URL(`../../../../../shared/reference/nova-api-samples/${path}`, import.meta.url),
      'utf8',
    ),
  );

let stub: NovaStub;
let token = '';
beforeAll(async () => {
  stub = await NovaStub.start({
    hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
    servers: [{ name: 'vm-1', host: 'cmp-1', group: 'g' }],
    groups: [{ name: 'g' }],
  });
  const auth = await fetch(`${stub.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'ferry', domain: { name: 'Default' }, password: 's3cret' } },
        },
        scope: { project: { name: 'ops', domain: { name: 'Default' } } },
      },
    }),
  });
  token = auth.headers.get('x-subject-token')!;
});
afterAll(() => stub.close());

async function get(path: string, mv?: string) {
  const res = await fetch(`${stub.computeUrl}${path}`, {
    headers: { 'X-Auth-Token': token, ...(mv && { 'OpenStack-API-Version': `compute ${mv}` }) },
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const keys = (o: unknown) => Object.keys(o as object).sort();

describe('the Nova stand-in', () => {
  it.each([
    ['2.53', 'os-hypervisors/v2.53/hypervisors-detail-resp.json'],
    ['2.87', 'os-hypervisors/v2.53/hypervisors-detail-resp.json'],
    ['2.88', 'os-hypervisors/v2.88/hypervisors-detail-resp.json'],
    ['2.104', 'os-hypervisors/v2.88/hypervisors-detail-resp.json'],
  ])('writes at %s exactly the hypervisor fields of %s', async (mv, file) => {
    const { body } = await get('/os-hypervisors/detail', mv);
    const hypervisor = (body.hypervisors as unknown[])[0];
    expect(keys(hypervisor)).toEqual(keys((sample(file).hypervisors as unknown[])[0]));
  });

  it.each([
    ['2.80', '/servers/detail', 'servers/v2.73/servers-details-resp.json'],
    ['2.80', '/servers/{id}', 'servers/v2.73/server-get-resp.json'],
    ['2.100', '/servers/{id}', 'servers/v2.100/server-get-resp.json'],
  ])('writes at %s no %s field the samples lack (%s)', async (mv, path, file) => {
    const id = stub.server('vm-1').id;
    const { body } = await get(path.replace('{id}', id), mv);
    const server = 'servers' in body ? (body.servers as unknown[])[0] : body.server;
    const reference = sample(file);
    const allowed = new Set([
      ...keys('servers' in reference ? reference.servers[0] : reference.server),
      // admin-only fields the non-admin samples (2.90+) leave out
      'OS-EXT-SRV-ATTR:host',
      'OS-EXT-SRV-ATTR:hypervisor_hostname',
      'OS-EXT-SRV-ATTR:instance_name',
      'host_status',
    ]);
    expect(keys(server).filter((k) => !allowed.has(k))).toEqual([]);
    // server_groups: in GET /servers/{id} since 2.71, never in a listing.
    expect('server_groups' in (server as object)).toBe(path === '/servers/{id}');
  });

  it('refuses a microversion above its maximum (2.104) with a 406 computeFault and no version headers', async () => {
    const { status, headers, body } = await get('/os-hypervisors/detail', '2.105');
    expect(status).toBe(406);
    expect(body).toEqual({
      computeFault: {
        code: 406,
        message: 'Version 2.105 is not supported by the API. Minimum is 2.1 and maximum is 2.104.',
      },
    });
    expect(headers.get('openstack-api-version')).toBeNull();
    const latest = await get('/os-hypervisors/detail', 'latest');
    expect(latest.headers.get('openstack-api-version')).toBe('compute 2.104');
  });

  it('answers other errors with the fault key of their status and the version headers', async () => {
    const { status, headers, body } = await get('/servers/00000000-0000-4000-8000-000000000000', '2.80');
    expect(status).toBe(404);
    expect(body).toEqual({
      itemNotFound: {
        code: 404,
        message: 'Instance 00000000-0000-4000-8000-000000000000 could not be found.',
      },
    });
    expect(headers.get('openstack-api-version')).toBe('compute 2.80');
    expect(headers.get('x-openstack-nova-api-version')).toBe('2.80');
    // Without a header Nova serves 2.1.
    expect((await get('/os-hypervisors/detail')).headers.get('openstack-api-version')).toBe('compute 2.1');
  });
});
