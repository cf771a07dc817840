import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { NovaStub } from '../../../support/nova-stub.js';

/**
 * The stand-in against real OpenStack clients: Debian's python3-openstacksdk (0.101) and
 * python3-novaclient (18.1), run by Debian's /usr/bin/python3 (scripts/install-system-deps.sh
 * installs them), so a driver test against the stand-in means something. The script
 * (test/support/nova-clients.py) works around the clients' own bugs, never the stand-in's.
 */

const SCRIPT = fileURLToPath(new URL('../../../support/nova-clients.py', import.meta.url));
const MiB = 1024 ** 2;

let stub: NovaStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

interface Step {
  client: 'sdk' | 'novaclient';
  step: string;
  [fact: string]: unknown;
}

/** Runs the script to its end (bounded), returning its steps; a failure shows its stderr. */
function runClients(config: Record<string, string>): Promise<Step[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [SCRIPT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      if (code !== 0 || lines.at(-1) !== 'done')
        return reject(new Error(`clients exited ${code}:\n${out}\n${err}`));
      resolve(lines.slice(0, -1).map((l) => JSON.parse(l) as Step));
    });
  });
}

describe('openstacksdk and novaclient against the Nova stand-in', () => {
  it('authenticate (v3password), list hypervisors, disable and enable services, live-migrate, list/show/force-complete/abort', async () => {
    const heavy = { host: 'cmp-1', ramMb: 2048, dirtyBytesPerS: 512 * MiB };
    stub = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
      servers: ['sdk-force', 'sdk-abort', 'nova-force', 'nova-abort'].map((name) => ({ name, ...heavy })),
      // Never converges by itself: each migration is still running when the client acts.
      bandwidthBytesPerS: 64 * MiB,
      permitPostCopy: true,
      setupMs: 200,
    });
    const steps = await runClients({
      auth_url: stub.authUrl,
      sdk_force: 'sdk-force',
      sdk_abort: 'sdk-abort',
      nova_force: 'nova-force',
      nova_abort: 'nova-abort',
    });
    const of = (client: string, step: string) => steps.filter((s) => s.client === client && s.step === step);
    for (const client of ['sdk', 'novaclient']) {
      expect(of(client, 'hypervisors')[0]).toMatchObject({ hosts: ['cmp-1', 'cmp-2'] });
      expect(of(client, 'disable')[0]).toMatchObject({
        status: 'disabled',
        reason: `${client}: maintenance`,
      });
      expect(of(client, 'enable')[0]).toMatchObject({ status: 'enabled' });
      for (const m of of(client, 'migration'))
        expect(m, client).toMatchObject({
          listed: 1,
          status: 'running',
          dest: 'cmp-2',
          memory_total_bytes: 2048 * MiB,
        });
    }
    // What the clients did, as Nova keeps it.
    expect(stub.service('cmp-1')).toEqual({ status: 'enabled', disabledReason: null });
    const disables = stub.calls.filter(
      (c) => c.method === 'PUT' && (c.body as { status?: string }).status === 'disabled',
    );
    expect(disables.map((c) => c.body)).toEqual([
      { status: 'disabled', disabled_reason: 'sdk: maintenance' },
      { status: 'disabled', disabled_reason: 'novaclient: maintenance' },
    ]);
    for (const name of ['sdk-force', 'nova-force'])
      expect(
        stub.migrationsOf(name).map((m) => m.status),
        name,
      ).toEqual([expect.stringMatching(/^running \(post-copy\)$|^completed$/)]);
    for (const name of ['sdk-abort', 'nova-abort']) {
      expect(
        stub.migrationsOf(name).map((m) => m.status),
        name,
      ).toEqual(['cancelled']);
      expect(stub.server(name), name).toMatchObject({ host: 'cmp-1', status: 'ACTIVE' });
    }
    // Both clients sent microversions the stand-in served, and token auth the way Keystone takes it.
    const versions = new Set(
      stub.calls.filter((c) => c.service === 'compute' && c.microversion).map((c) => c.microversion),
    );
    expect(versions.has('2.92')).toBe(true); // novaclient's, as the script asks; openstacksdk negotiates its own
    expect([...versions].length).toBeGreaterThan(1);
    expect(stub.tokensIssued).toBe(2);
  }, 90_000);
});
