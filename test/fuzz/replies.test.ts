import { readdirSync, readFileSync } from 'node:fs';
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/engine/compose.js';
import { fleetFromConfig, LIMITS } from '../../src/engine/config.js';
import { parseDomJobInfo, sampleFromDomJobInfo } from '../../src/engine/drivers/libvirt/domjobinfo.js';
import type { NovaApi } from '../../src/engine/drivers/nova/api.js';
import { type NovaConfig, novaConfigSchema } from '../../src/engine/drivers/nova/config.js';
import { parseReply } from '../../src/engine/drivers/nova/http.js';
import { readFleet } from '../../src/engine/drivers/nova/inventory.js';
import {
  hypervisorListSchema,
  inventoriesSchema,
  migrationRecordListSchema,
  serverListSchema,
  serverMigrationResponseSchema,
  serviceListSchema,
  usagesSchema,
} from '../../src/engine/drivers/nova/schemas.js';
import { migrationInfoSchema, sampleFromMigrationInfo } from '../../src/engine/drivers/qemu/migrate-info.js';
import { QmpClient } from '../../src/engine/drivers/qemu/qmp.js';
import { FerryError } from '../../src/engine/errors.js';
import { type Fleet, GiB } from '../../src/engine/model.js';
import { planEvacuation } from '../../src/engine/planning/plan.js';
import { fuzz, inflateNumbers, mutateJson, mutateText } from './mutate.js';

/**
 * Seeded fuzz suites of a fixed size over everything ferry parses from outside: config files
 * (the examples, mutated), and real QMP, `virsh domjobinfo` and Nova replies (the recorded
 * fixtures, mutated). Each case either parses into typed values or is refused with a FerryError;
 * none crashes, none hangs (every plan of a mutated config that parses must come back too).
 */

/** Runs `fn`; anything thrown must be one of ferry's typed errors. */
function typedOrFine(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof FerryError)) throw err;
  }
}

const fixture = (path: string) => readFileSync(new URL(`../engine/drivers/${path}`, import.meta.url), 'utf8');
/** A sample of Nova's or Placement's own API docs (../shared/reference/). */
const reference = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(`../../../shared/reference/${path}`, import.meta.url), 'utf8'));

describe('fuzz: config files', () => {
  const examples = readdirSync('examples')
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(`examples/${f}`, 'utf8'));

  it('2000 mutated example configs: each parses or is a ConfigError, and each plan ends', {
    timeout: 180_000,
  }, async () => {
    let parsed = 0;
    await fuzz(
      'config',
      2000,
      (random) => mutateText(examples[Math.floor(random() * examples.length)]!, random),
      (text) => {
        let config: ReturnType<typeof parseConfig>;
        try {
          config = parseConfig(text, 'fuzz.yaml');
        } catch (err) {
          expect(err).toBeInstanceOf(FerryError);
          expect((err as FerryError).code).toBe('CONFIG_INVALID');
          return;
        }
        parsed++;
        const fleet = fleetFromConfig(config);
        const source = fleet.hosts[0]?.name;
        if (source) typedOrFine(() => planEvacuation(fleet, source, config.policy, { now: 0 }));
      },
      (text) => text,
    );
    // The mutations are not all fatal: some configs still parse and get planned.
    expect(parsed).toBeGreaterThan(100);
  });
});

describe('fuzz: QEMU query-migrate replies', () => {
  const states = JSON.parse(fixture('qemu/fixtures/qemu10_query_migrate_states_loopback.json')) as Record<
    string,
    unknown
  >;
  const replies = Object.values(states);

  it('2000 mutated replies: each becomes a sample or a typed refusal', async () => {
    await fuzz(
      'query-migrate',
      2000,
      (random) => mutateJson(replies[Math.floor(random() * replies.length)], random),
      (reply) => {
        const info = migrationInfoSchema.safeParse(reply);
        if (info.success) typedOrFine(() => sampleFromMigrationInfo(info.data, 0));
      },
    );
  });

  it('1000 mutated reply lines through a QMP connection: each command settles, typed', async () => {
    const toClient = new PassThrough();
    const fromClient = new PassThrough();
    const stream = Duplex.from({ readable: toClient, writable: fromClient });
    let nextReply = (id: string) => `${JSON.stringify({ return: {}, id })}\r\n`;
    fromClient.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) {
        const { id } = JSON.parse(line) as { id: string };
        // The mutated line, then a sound reply: whichever settles the command first wins.
        toClient.write(nextReply(id));
        toClient.write(`${JSON.stringify({ return: { status: 'active' }, id })}\r\n`);
      }
    });
    toClient.write(
      '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}}, "capabilities": []}}\r\n',
    );
    const client = await QmpClient.connect(stream, { label: 'fuzz', timeoutMs: 5000 });
    await fuzz(
      'qmp-lines',
      1000,
      (random) =>
        mutateText(
          JSON.stringify({ return: replies[Math.floor(random() * replies.length)], id: '@ID@' }),
          random,
        ),
      async (line) => {
        nextReply = (id) => `${line.replaceAll('@ID@', id).replace(/\r?\n/g, ' ')}\r\n`;
        await client.query('query-migrate', migrationInfoSchema).catch((err) => {
          if (!(err instanceof FerryError)) throw err;
        });
      },
      (line) => line,
    );
    expect(client.isOpen).toBe(true);
    client.close();
  });
});

describe('fuzz: virsh domjobinfo', () => {
  const text = fixture('libvirt/fixtures/virsh_domjobinfo_openstack_nonconverging_inovex132.txt');

  it('2000 mutated outputs: each parses into a sample or is a typed refusal', async () => {
    await fuzz(
      'domjobinfo',
      2000,
      (random) => mutateText(text, random),
      (mutated) =>
        typedOrFine(() =>
          sampleFromDomJobInfo(parseDomJobInfo(mutated), 0, { postcopy: mutated.length % 2 === 0 }),
        ),
      (mutated) => mutated,
    );
  });
});

describe('fuzz: Nova replies', () => {
  const samples = [
    {
      schema: serverMigrationResponseSchema,
      body: JSON.parse(fixture('nova/fixtures/nova_v2.80_server_migrations_get.json')),
    },
    {
      schema: migrationRecordListSchema,
      body: JSON.parse(fixture('nova/fixtures/nova_v2.80_os_migrations_get.json')),
    },
    {
      schema: hypervisorListSchema,
      body: JSON.parse(fixture('nova/fixtures/nova_v2.88_hypervisors_detail.json')),
    },
    { schema: serviceListSchema, body: JSON.parse(fixture('nova/fixtures/nova_services_list.json')) },
  ];

  it('the unmutated samples parse', () => {
    for (const { schema, body } of samples) expect(() => parseReply(schema, body, 'Nova')).not.toThrow();
  });

  it('3000 mutated replies: each parses or is a DriverReplyError', async () => {
    await fuzz(
      'nova',
      3000,
      (random) => {
        const sample = samples[Math.floor(random() * samples.length)]!;
        return { schema: sample.schema, body: mutateJson(sample.body, random) };
      },
      ({ schema, body }) => {
        try {
          parseReply(schema, body, 'Nova');
        } catch (err) {
          expect(err).toBeInstanceOf(FerryError);
          expect((err as FerryError).code).toBe('DRIVER_REPLY_INVALID');
        }
      },
      ({ body }) => JSON.stringify(body),
    );
  });
});

describe('fuzz: Nova inventory replies through the driver', () => {
  // Reference replies, one per call readFleet makes: the samples come from different pages of
  // Nova's docs, so the hypervisors are renamed to the sample server's host ("compute").
  const onCompute = (body: unknown) => {
    const copy = structuredClone(body) as { hypervisors: { service: { host: string } }[] };
    for (const h of copy.hypervisors) h.service.host = 'compute';
    return copy;
  };
  const replies = {
    servers: reference('nova-api-samples/servers/v2.73/servers-details-resp.json'),
    services: reference('nova-api-samples/os-services/v2.69/services-list-get-resp.json'),
    'hypervisors-2.80': onCompute(
      reference('nova-api-samples/os-hypervisors/v2.53/hypervisors-detail-resp.json'),
    ),
    'hypervisors-2.88': onCompute(
      reference('nova-api-samples/os-hypervisors/v2.88/hypervisors-detail-resp.json'),
    ),
    inventories: reference('placement-api-samples/inventories/get-inventories.json'),
    usages: reference('placement-api-samples/resource_provider_usages/get-resource_provider_usages.json'),
  };
  type Replies = typeof replies;
  const config = (microversion: string): NovaConfig =>
    novaConfigSchema.parse({
      authUrl: 'https://keystone.invalid/v3',
      auth: { type: 'password', username: 'ferry', password: 'x', projectName: 'admin' },
      microversion,
    });

  /** What NovaApi returns for these bodies: each parsed with the schema it uses. */
  const apiOver = (bodies: Replies, microversion: string): NovaApi =>
    ({
      microversion,
      hypervisors: async () =>
        parseReply(hypervisorListSchema, bodies[`hypervisors-${microversion}` as 'hypervisors-2.80'], 'Nova')
          .hypervisors,
      computeServices: async () => parseReply(serviceListSchema, bodies.services, 'Nova').services,
      servers: async () => parseReply(serverListSchema, bodies.servers, 'Nova').servers,
      serverGroups: async () => [],
      hostZones: async () => new Map(),
      resourceProvider: async () => ({
        inventories: parseReply(inventoriesSchema, bodies.inventories, 'Placement').inventories,
        usages: parseReply(usagesSchema, bodies.usages, 'Placement').usages,
      }),
    }) as unknown as NovaApi;

  /** Every number the planner will size plans with is within the config's physical limits. */
  const expectWithinLimits = (fleet: Fleet) => {
    for (const item of [...fleet.hosts, ...fleet.instances]) {
      expect(item.vcpus).toBeLessThanOrEqual(LIMITS.vcpus.max);
      expect(Number.isFinite(item.memoryBytes)).toBe(true);
      expect(item.memoryBytes).toBeLessThanOrEqual(LIMITS.memoryGiB.max * GiB);
    }
  };

  it('the unmutated replies give a fleet at both microversions', async () => {
    for (const microversion of ['2.80', '2.88']) {
      const fleet = await readFleet(apiOver(replies, microversion), config(microversion));
      expect(fleet.hosts.map((h) => h.name)).toEqual(['compute']);
      expect(fleet.instances.length).toBeGreaterThan(0);
      expectWithinLimits(fleet);
    }
  });

  it('2000 mutated replies: a fleet within the physical limits whose plan ends, or a typed refusal', async () => {
    const names = Object.keys(replies) as (keyof Replies)[];
    const policy = parseConfig('fleet: { driver: sim }', 'fuzz.yaml').policy;
    let read = 0;
    await fuzz(
      'nova-inventory',
      2000,
      (random) => {
        const name = names[Math.floor(random() * names.length)]!;
        const microversion = name === 'hypervisors-2.80' || random() < 0.5 ? '2.80' : '2.88';
        const mutate = random() < 0.5 ? mutateJson : inflateNumbers;
        return { name, microversion, bodies: { ...replies, [name]: mutate(replies[name], random) } };
      },
      async ({ microversion, bodies }) => {
        let fleet: Fleet;
        try {
          fleet = await readFleet(apiOver(bodies, microversion), config(microversion));
        } catch (err) {
          expect(err).toBeInstanceOf(FerryError);
          return;
        }
        read++;
        expectWithinLimits(fleet);
        typedOrFine(() => planEvacuation(fleet, 'compute', policy, { now: 0 }));
      },
      ({ name, microversion, bodies }) => `${name} at ${microversion}: ${JSON.stringify(bodies[name])}`,
    );
    expect(read).toBeGreaterThan(100);
  });
});
