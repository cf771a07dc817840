import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { configSchema } from '../../../../src/engine/compose.js';
import { NovaApi } from '../../../../src/engine/drivers/nova/api.js';
import { NovaDriver } from '../../../../src/engine/drivers/nova/driver.js';
import { ConfigError, ConflictError, DriverUnreachableError } from '../../../../src/engine/errors.js';
import { MiB, type Tuning } from '../../../../src/engine/model.js';
import { planEvacuation } from '../../../../src/engine/planning/plan.js';
import { NovaStub, type NovaStubOptions, novaTestConfig } from '../../../support/nova-stub.js';
import { makeTestCa } from '../../../support/tls-ca.js';

/** The driver against a cloud as it is: down cells, Placement, long listings, a private CA. */

const tuning: Tuning = { downtimeLimitMs: 500, autoConverge: false, postcopyCapable: false };
let stub: NovaStub | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await stub?.close();
  stub = undefined;
});

async function start(options: Partial<NovaStubOptions> = {}, config: Record<string, unknown> = {}) {
  stub = await NovaStub.start({
    hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
    servers: [{ name: 'vm-1', host: 'cmp-1', ramMb: 2048, vcpus: 4 }],
    ...options,
  });
  const s = stub;
  const clock = { now: () => s.now(), sleep: systemClock.sleep };
  const driver = new NovaDriver({ config: novaTestConfig(s, config), clock, pollMs: 20 });
  cleanups.push(() => void driver.close());
  return { stub: s, driver, api: new NovaApi({ config: novaTestConfig(s, config), clock }) };
}

const move = (instance = 'vm-1', to = 'cmp-2') => ({
  migrationId: `e:${instance}`,
  instance,
  from: 'cmp-1',
  to,
});
const policy = configSchema.parse({ fleet: { driver: 'sim' }, policy: {} }).policy;

describe('a cell that does not answer (2.69+)', () => {
  const cells: Partial<NovaStubOptions> = {
    hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }, { name: 'cmp-9', cell: 'cell2' }],
    servers: [
      { name: 'vm-1', host: 'cmp-1' },
      { name: 'far-1', host: 'cmp-9', id: '99999999-9999-4999-8999-999999999999' },
    ],
  };

  it('leaves its hosts and servers out of the inventory and names them; the rest works', async () => {
    const { stub, driver } = await start(cells);
    stub.takeCellDown('cell2');
    const fleet = await driver.inventory();
    expect(fleet.hosts.map((h) => h.name).sort()).toEqual(['cmp-1', 'cmp-2']);
    expect(fleet.instances.map((i) => i.name)).toEqual(['vm-1']);
    expect(fleet.unreachable).toEqual([
      {
        kind: 'host',
        name: 'cmp-9',
        reason: expect.stringMatching(/nova-compute on cmp-9 is in a Nova cell that does not answer/),
      },
      {
        kind: 'instance',
        name: '99999999-9999-4999-8999-999999999999',
        reason: expect.stringMatching(/UNKNOWN.*until the cell is back/),
      },
    ]);
    // Named in the plan's blockers (ferry cannot say where it runs); the other moves are planned.
    const plan = planEvacuation(fleet, 'cmp-1', policy, { now: stub.now() });
    expect(plan.moves.map((m) => m.instance)).toEqual(['vm-1']);
    expect(plan.blockers).toEqual([
      { instance: '99999999-9999-4999-8999-999999999999', code: 'unreachable', reason: expect.any(String) },
    ]);
    expect(() => planEvacuation(fleet, 'cmp-9', policy, { now: stub.now() })).toThrow(ConflictError);
    // Its service cannot be changed, nor be a destination; the others can.
    await expect(driver.setSchedulable('cmp-9', false, 'x')).rejects.toBeInstanceOf(DriverUnreachableError);
    expect(await driver.precheck(move('vm-1', 'cmp-9'))).toEqual({
      ok: false,
      reasons: [expect.stringMatching(/nova-compute on cmp-9 is in a Nova cell that does not answer/)],
    });
    expect(await driver.precheck(move())).toEqual({ ok: true });
    await driver.setSchedulable('cmp-1', false, 'drain');
    expect(stub.service('cmp-1').status).toBe('disabled');
    // Back up: everything is seen again.
    stub.bringCellUp('cell2');
    expect((await driver.inventory()).unreachable).toBeUndefined();
  });
});

describe('capacity from Placement at 2.88+', () => {
  for (const microversion of ['2.88', '2.104']) {
    it(`reads inventories and usages at ${microversion}: (total - reserved) x ratio, less what ferry cannot see`, async () => {
      const { stub, driver } = await start(
        {
          hosts: [
            { name: 'cmp-1', vcpus: 32, memoryMb: 65536 },
            { name: 'cmp-2', vcpus: 32, memoryMb: 65536 },
          ],
        },
        { microversion },
      );
      const fleet = await driver.inventory();
      const cmp2 = fleet.hosts.find((h) => h.name === 'cmp-2')!;
      // VCPU 32 x 4.0; MEMORY_MB (65536 - 512 reserved) x 1.0; no cpu_info since 2.88.
      expect(cmp2).toMatchObject({ vcpus: 128, memoryBytes: 65024 * MiB, cpuModel: undefined });
      expect(stub.count('GET', /^\/resource_providers\/[^/]+\/inventories$/)).toBe(2);
      expect(stub.calls.find((c) => c.path === '/os-hypervisors/detail')?.microversion).toBe(microversion);
      // A migration in flight holds vm-1's allocation on cmp-2 already: less room there.
      await driver.start(move(), tuning);
      const during = (await driver.inventory()).hosts.find((h) => h.name === 'cmp-2')!;
      expect(during).toMatchObject({ vcpus: 128 - 4, memoryBytes: (65024 - 2048) * MiB });
    });
  }

  it('says what to do when the catalog lists no Placement', async () => {
    const { driver } = await start({ placement: false }, { microversion: '2.88' });
    const err = await driver.inventory().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).userMessage).toMatch(/no placement service.*2\.87/);
  });
});

describe('listings of any length', () => {
  it('reads os-migrations, instance actions and server groups page by page', async () => {
    const groups = Array.from({ length: 5 }, (_, i) => ({
      name: `g-${i}`,
      policy: 'anti-affinity' as const,
    }));
    const { stub, driver, api } = await start({
      pageSize: 2,
      groups,
      servers: [
        { name: 'vm-1', host: 'cmp-1', group: 'g-4' },
        { name: 'vm-2', host: 'cmp-2', group: 'g-4' },
      ],
    });
    const fleet = await driver.inventory();
    expect(fleet.instances.map((i) => i.antiAffinityGroup)).toEqual(['g-4', 'g-4']);
    expect(stub.calls.filter((c) => c.path.startsWith('/os-server-groups')).map((c) => c.path)).toEqual([
      '/os-server-groups?all_projects=true&limit=1000&offset=0',
      '/os-server-groups?all_projects=true&limit=1000&offset=2',
      '/os-server-groups?all_projects=true&limit=1000&offset=4',
      '/os-server-groups?all_projects=true&limit=1000&offset=5',
    ]);
    // Five live migrations of vm-1, each cancelled: five records, five actions, in pages of two.
    const id = stub.server('vm-1').id;
    for (let i = 1; i <= 5; i++) {
      const handle = await driver.start({ ...move(), migrationId: `e${i}:vm-1` }, tuning);
      stub.advance(1000);
      await driver.abort(handle);
    }
    const history = await api.liveMigrationHistory(id);
    expect(history.map((m) => [m.id, m.status])).toEqual([5, 4, 3, 2, 1].map((n) => [n, 'cancelled']));
    expect(stub.count('GET', /^\/os-migrations\?.*marker=/)).toBeGreaterThanOrEqual(2);
    const action = await api.latestAction(id, 'live-migration');
    expect(action?.events.map((e) => e.event)).toContain('compute_live_migration_abort');
    expect(stub.count('GET', /os-instance-actions\?.*marker=/)).toBeGreaterThanOrEqual(2);
  });
});

describe('TLS with a private CA', () => {
  it('trusts nova.caFile, and without it refuses the self-signed chain', async () => {
    const ca = makeTestCa();
    cleanups.push(ca.remove);
    const { driver: trusting } = await start({ tls: { cert: ca.cert, key: ca.key } }, { caFile: ca.caFile });
    expect(stub!.authUrl).toMatch(/^https:/);
    expect((await trusting.inventory()).hosts).toHaveLength(2);
    const plain = new NovaDriver({ config: novaTestConfig(stub!), clock: systemClock });
    const err = await plain.inventory().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverUnreachableError);
    expect((err as DriverUnreachableError).userMessage).toMatch(
      /cannot reach Keystone .*(SELF_SIGNED|UNABLE_TO_VERIFY)/,
    );
  });

  it('refuses a caFile that is not there or holds no certificate, at startup', () => {
    const config = (caFile: string) =>
      novaTestConfig({ authUrl: 'https://k.example/v3' } as NovaStub, { caFile });
    expect(() => new NovaApi({ config: config('/nonexistent/ca.pem'), clock: systemClock })).toThrow(
      /nova\.caFile \/nonexistent\/ca\.pem cannot be read/,
    );
    expect(() => new NovaApi({ config: config('/etc/hostname'), clock: systemClock })).toThrow(
      /holds no PEM certificate/,
    );
  });
});
