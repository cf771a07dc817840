import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../../src/engine/clock.js';
import { createDurableEngine, loadConfig } from '../../../../src/engine/compose.js';
import { createSimDriver } from '../../../../src/engine/drivers/sim/index.js';
import type { ApprovalDecision } from '../../../../src/engine/model.js';
import { redisConfigSchema } from '../../../../src/engine/store/redis/config.js';
import { RedisApprovals, RedisStore } from '../../../../src/engine/store/redis/index.js';
import { type RedisServer, startRedis } from '../../../support/redis.js';
import { simFleet, vms } from './harness.js';
import { type Child, client, freshPrefix, spawnTs } from './support.js';

/**
 * The invariants that span processes, raced by real processes on a real redis-server. Each racer
 * is a replica of the engine in its own process, lined up at a barrier in Redis so that all of
 * them ask at the same moment (on two cores an unsynchronised race rarely interleaves).
 */

let server: RedisServer;
let redis: Redis;
let dir: string;

beforeAll(async () => {
  server = await startRedis();
  redis = client(server.url);
  dir = mkdtempSync(join(tmpdir(), 'ferry-races-'));
});

afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const FLEET = `
${simFleet(['hv1', 'hv2', 'hv3'], vms('hv1', 4, 2))}
`;

interface Race {
  prefix: string;
  /** The racers' config file (the fleet and this race's Redis prefix). */
  file: string;
  /**
   * Starts one racer per entry, runs `before` once all are ready, releases them together, and
   * returns each one's answer line.
   */
  run(
    racers: { action: string; subject: string; by: string }[],
    before?: () => Promise<void>,
  ): Promise<string[]>;
}

function race(): Race {
  const prefix = freshPrefix();
  const file = join(dir, `${prefix.replace(/[{}]/g, '')}.yaml`);
  writeFileSync(file, `${FLEET}\nredis:\n  prefix: "${prefix}"\n`);
  return {
    prefix,
    file,
    async run(racers, before) {
      const barrier = `${prefix}:barrier`;
      const children: Child[] = racers.map((r) =>
        spawnTs('test/processes/racer.ts', [
          ...['--config', file, '--redis', server.url, '--barrier', barrier],
          ...['--action', r.action, '--subject', r.subject, '--by', r.by],
        ]),
      );
      try {
        await Promise.all(children.map((c) => c.waitFor(/^ready$/, 60_000)));
        await before?.();
        await redis.rpush(barrier, ...racers.map(() => 'go'));
        return await Promise.all(children.map((c) => c.waitFor(/^(done|refused) /, 30_000)));
      } finally {
        await Promise.all(children.map((c) => c.kill('SIGKILL')));
      }
    },
  };
}

const answers = (lines: string[]) => ({
  done: lines.filter((l) => l.startsWith('done ')).map((l) => JSON.parse(l.slice(5))),
  refused: lines.filter((l) => l.startsWith('refused ')),
});

describe('races between replicas', { timeout: 120_000 }, () => {
  it('gives a host to one of four operators confirming at once; the others are told who holds it', async () => {
    const r = race();
    const people = ['U_ALICE', 'U_BOB', 'U_CAROL', 'U_DAVE'];
    const { done, refused } = answers(
      await r.run(people.map((by) => ({ action: 'evacuate', subject: 'hv1', by }))),
    );
    expect(done).toHaveLength(1);
    const winner = done[0] as { id: string };
    const store = new RedisStore(redis, r.prefix);
    expect(await store.holder('hv1')).toBe(winner.id);
    const stored = await store.listEvacuations();
    expect(stored.map((e) => e.request.id)).toEqual([winner.id]);
    const by = stored[0]!.request.requestedBy;
    expect(refused).toHaveLength(3);
    for (const line of refused)
      expect(line).toContain(
        `refused CONFLICT hv1 is already being evacuated by ${winner.id} (requested by ${by})`,
      );
  });

  it('starts one evacuation when the same preview is confirmed by four clicks at once', async () => {
    const r = race();
    const config = loadConfig(r.file);
    const engine = createDurableEngine({
      config: { ...config, redis: redisConfigSchema.parse({ ...config.redis, url: server.url }) },
      driver: createSimDriver(config, systemClock),
      clock: systemClock,
      via: 'test',
    });
    try {
      const issued = await engine.service.preview({
        hosts: ['hv1'],
        requestedBy: 'U_ALICE',
        maintenance: false,
      });
      const { done, refused } = answers(
        await r.run(
          Array.from({ length: 4 }, () => ({
            action: 'confirm',
            subject: `${issued.id}:${issued.nonce}`,
            by: 'U_ALICE',
          })),
        ),
      );
      expect(done).toHaveLength(1);
      expect(refused).toHaveLength(3);
      for (const line of refused)
        expect(line).toMatch(/^refused FORBIDDEN this plan was already confirmed by U_ALICE/);
      const stored = await new RedisStore(redis, r.prefix).listEvacuations();
      expect(stored.map((e) => e.request.id)).toEqual([(done[0] as { id: string }).id]);
      expect(stored[0]!.request.planId).toBe(issued.id);
      const refusals = (await engine.audit.entries()).filter((e) => e.refused);
      expect(refusals).toHaveLength(3);
    } finally {
      await engine.close();
    }
  });

  it('reserves a distinct id for each of five migrations asked at once, and none holds the host', async () => {
    const r = race();
    const { done, refused } = answers(
      await r.run(
        Array.from({ length: 5 }, (_, i) => ({ action: 'migrate', subject: 'hv1-vm01', by: `U_${i}` })),
      ),
    );
    expect(refused).toEqual([]);
    const ids = done.map((d: { id: string }) => d.id);
    expect(new Set(ids).size).toBe(5);
    const store = new RedisStore(redis, r.prefix);
    expect((await store.listEvacuations()).map((e) => e.request.id).sort()).toEqual([...ids].sort());
    for (const e of await store.listEvacuations()) expect(e.request.requestedBy).toMatch(/^U_\d$/);
    expect(await store.holder('hv1')).toBeUndefined();
  });
});

describe('approval decisions raced against expiry', { timeout: 120_000 }, () => {
  const request = (id: string, expiresAt: number) => ({
    id,
    evacuationId: 'e1',
    migrationId: 'e1:db-1',
    instance: 'db-1',
    kind: 'postcopy' as const,
    requestedBy: 'U_ALICE',
    requestedAt: expiresAt - 60_000,
    expiresAt,
    predictedDowntimeMs: 5,
    downtimeSloMs: 300,
    remainingBytes: 1,
    dirtyBytesPerS: 1,
    bandwidthBytesPerS: 1,
    risk: 'post-copy: a network failure before it finishes loses the guest',
  });
  const redisNow = async () => {
    const [s, us] = await redis.time();
    return Number(s) * 1000 + Math.floor(Number(us) / 1000);
  };

  it('refuses every click that lands after the expiry: the expiry stands, on every replica', async () => {
    const r = race();
    const approvals = new RedisApprovals(redis, r.prefix);
    const expiresAt = (await redisNow()) + 1_000;
    await approvals.request(request('a-late', expiresAt));
    const clicks = ['U_BOB', 'U_CAROL', 'U_DAVE', 'U_ERIN'].map((by, i) => ({
      action: i % 2 ? 'reject' : 'approve',
      subject: 'a-late',
      by,
    }));
    // Released once Redis's clock has passed the expiry: every click is late.
    const pastExpiry = async () => {
      while ((await redisNow()) < expiresAt) await new Promise((res) => setTimeout(res, 50));
    };
    const { done } = answers(await r.run(clicks, pastExpiry));
    expect(done).toHaveLength(4);
    const standing = (await approvals.decision('a-late'))!;
    expect(standing).toMatchObject({ outcome: 'expired', decidedBy: 'system' });
    for (const d of done as ApprovalDecision[]) expect(d).toEqual(standing);
  });

  it('keeps exactly one of the clicks made in time, the same one for every racer', async () => {
    const r = race();
    const approvals = new RedisApprovals(redis, r.prefix);
    await approvals.request(request('a-live', (await redisNow()) + 600_000));
    const clicks = ['U_BOB', 'U_CAROL', 'U_DAVE', 'U_ERIN'].map((by, i) => ({
      action: i % 2 ? 'reject' : 'approve',
      subject: 'a-live',
      by,
    }));
    const { done } = answers(await r.run(clicks));
    const standing = (await approvals.decision('a-live'))!;
    expect(['U_BOB', 'U_CAROL', 'U_DAVE', 'U_ERIN']).toContain(standing.decidedBy);
    expect(standing.outcome).not.toBe('expired');
    for (const d of done as ApprovalDecision[]) expect(d).toEqual(standing);
  });
});
