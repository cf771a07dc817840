import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import { createLocalEngine } from '../../src/engine/compose.js';
import { defaultPolicy } from '../../src/engine/config.js';
import { SimDriver } from '../../src/engine/drivers/sim/index.js';
import { PlanRefusedError } from '../../src/engine/errors.js';
import { type FerryEvent, type Fleet, GBPS, type Plan } from '../../src/engine/model.js';
import type { IssuedPlan, PlanStore } from '../../src/engine/ports.js';
import { MemoryPlans } from '../../src/engine/store/memory/index.js';
import { RedisPlans } from '../../src/engine/store/redis/index.js';
import { noticeFor } from '../../src/views/notices.js';
import { host, vm } from '../support/fleet.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { client, freshPrefix } from './store/redis/support.js';

/**
 * Plan once: the preview is stored and issued to one person; Confirm carries only its id and
 * nonce and runs exactly that plan; at the start only the moves the fleet no longer takes are
 * placed again, each change an event; every other ticket is refused and the refusal audited.
 */

const T0 = Date.UTC(2026, 10, 24, 2, 0);

function fleet(): Fleet {
  return {
    hosts: [
      host('hv1'),
      host('hv2'),
      host('hv3'),
      host('hv4', { schedulable: false, disabledReason: 'new' }),
    ],
    instances: [vm('web-1', 'hv1', 4), vm('web-2', 'hv1', 8), vm('api-1', 'hv1', 16), vm('db-1', 'hv1', 32)],
  };
}

function setup() {
  const clock = new VirtualClock(T0);
  const driver = new SimDriver({
    fleet: fleet(),
    clock,
    streamCapBytesPerS: defaultPolicy.streamCapGbps * GBPS,
  });
  const config = {
    policy: defaultPolicy,
    windows: [],
    timezone: 'UTC',
    maintenance: { reenable: true, timeoutS: 60 },
  };
  return { clock, driver, ...createLocalEngine({ config, driver, clock, via: 'test' }) };
}

const moves = (plan: Plan) => plan.moves.map((m) => `${m.instance}->${m.to}`).sort();
const ticket = (p: IssuedPlan) => ({ planId: p.id, nonce: p.nonce });
const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

describe('plan once', () => {
  it('runs exactly the moves the operator confirmed, though the planner would now choose others', async () => {
    const { service, driver, launcher, store } = setup();
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    expect(issued.issuedTo).toBe('U_ALICE');
    expect(moves(issued.plans[0]!).some((m) => m.endsWith('hv4'))).toBe(false);
    // A big empty host is enabled after the preview: a fresh plan would use it.
    await driver.setSchedulable('hv4', true, 'ready');
    expect(moves(await service.plan('hv1')).some((m) => m.endsWith('hv4'))).toBe(true);

    const started = await service.confirm(ticket(issued), 'U_ALICE');
    expect(started.kind).toBe('evacuation');
    const evacuation = (await launcher.finished(started.id))!;
    expect(evacuation.state).toBe('completed');
    expect(evacuation.request.planId).toBe(issued.id);
    const events = await store.events(started.id);
    expect(ofType(events, 'plan.revised')).toEqual([]);
    expect(moves(ofType(events, 'evacuation.planned')[0]!.plan)).toEqual(moves(issued.plans[0]!));
    const ran = ofType(events, 'migration.started')
      .map((e) => `${e.instance}->${e.to}`)
      .sort();
    expect(ran).toEqual(moves(issued.plans[0]!));
  });

  it('places again only the moves whose destination was disabled since, and posts each change', async () => {
    const { service, driver, launcher, store } = setup();
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    const planned = issued.plans[0]!.moves;
    const lost = planned[0]!.to;
    const kept = planned.filter((m) => m.to !== lost);
    await driver.setSchedulable(lost, false, 'fan failure');

    const { id } = await service.confirm(ticket(issued), 'U_ALICE');
    expect((await launcher.finished(id))?.state).toBe('completed');
    const events = await store.events(id);
    const revised = ofType(events, 'plan.revised');
    expect(revised.map((e) => e.instance).sort()).toEqual(
      planned
        .filter((m) => m.to === lost)
        .map((m) => m.instance)
        .sort(),
    );
    for (const e of revised) {
      expect(e).toMatchObject({ from: lost });
      expect(e.to).not.toBe(lost);
      expect(e.why).toContain(`${lost} is disabled for scheduling (fan failure)`);
      expect(noticeFor(e, 'UTC')).toMatch(
        new RegExp(`plan changed at the start: \`${e.instance}\` \`${lost}\` → \`${e.to}\``),
      );
    }
    const ran = ofType(events, 'migration.started');
    for (const m of kept) expect(ran.find((e) => e.instance === m.instance)?.to).toBe(m.to);
  });

  it('refuses a ticket ferry did not issue, another user’s, an expired or a used one, and audits each refusal', async () => {
    const { service, clock, audit, store } = setup();
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    const refusal = async (run: Promise<unknown>) => {
      const err = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PlanRefusedError);
      return (err as PlanRefusedError).refusal.why;
    };
    expect(
      await refusal(service.confirm({ planId: 'plan-neverissued', nonce: issued.nonce }, 'U_ALICE')),
    ).toBe('unknown');
    expect(await refusal(service.confirm({ planId: issued.id, nonce: 'guessed-nonce' }, 'U_ALICE'))).toBe(
      'nonce',
    );
    expect(await refusal(service.confirm(ticket(issued), 'U_BOB'))).toBe('user');
    expect(await store.listEvacuations()).toEqual([]);

    await service.confirm(ticket(issued), 'U_ALICE');
    expect(await refusal(service.confirm(ticket(issued), 'U_ALICE'))).toBe('used');
    expect(await refusal(service.discard(ticket(issued), 'U_ALICE'))).toBe('used');
    expect(await store.listEvacuations()).toHaveLength(1);

    const stale = await service.preview({ hosts: ['hv2'], requestedBy: 'U_ALICE', maintenance: false });
    await clock.sleep(stale.expiresAt - clock.now());
    expect(await refusal(service.confirm(ticket(stale), 'U_ALICE'))).toBe('expired');

    const cancelled = await service.preview({ hosts: ['hv3'], requestedBy: 'U_ALICE', maintenance: false });
    await service.discard(ticket(cancelled), 'U_ALICE');
    const err = await service.confirm(ticket(cancelled), 'U_ALICE').catch((e: unknown) => e);
    expect((err as PlanRefusedError).userMessage).toContain('this plan was already cancelled by U_ALICE');

    const entries = await audit.entries();
    const refused = entries.filter((e) => e.refused);
    expect(refused.map((e) => [e.who, e.action, e.target])).toEqual([
      ['U_ALICE', 'confirm', 'plan-neverissued'],
      ['U_ALICE', 'confirm', issued.id],
      ['U_BOB', 'confirm', issued.id],
      ['U_ALICE', 'confirm', issued.id],
      ['U_ALICE', 'cancel plan', issued.id],
      ['U_ALICE', 'confirm', stale.id],
      ['U_ALICE', 'confirm', cancelled.id],
    ]);
    expect(refused[2]!.refused).toContain('issued to U_ALICE');
    expect(refused[5]!.refused).toContain('expired');
    // What was done is recorded apart from what was refused.
    expect(entries.filter((e) => !e.refused).map((e) => e.action)).toEqual(['evacuate', 'cancel plan']);
  });

  it('refuses a preview naming a host twice', async () => {
    const { service } = setup();
    await expect(
      service.preview({ hosts: ['hv1', 'hv1'], requestedBy: 'U_ALICE', maintenance: false }),
    ).rejects.toThrow('a host is named twice');
  });
});

/** The same contract for both stores: the nonce is checked, then spent once. */
describe('plan stores', () => {
  let server: RedisServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = client(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  const issued = (id: string): IssuedPlan => ({
    id,
    nonce: 'n0nce-secret',
    issuedTo: 'U_ALICE',
    issuedAt: T0,
    expiresAt: T0 + 60_000,
    request: { hosts: ['hv1'], when: { kind: 'now' }, requestedBy: 'U_ALICE', maintenance: false },
    plans: [{ source: 'hv1', moves: [], blockers: [], lowerBoundMs: 0, predictedMakespanMs: 0 }],
    assumed: { at: T0, hosts: [], instances: [] },
  });

  for (const [name, make] of [
    ['memory', () => new MemoryPlans()],
    ['redis', () => new RedisPlans(redis, freshPrefix())],
  ] as [string, () => PlanStore][]) {
    it(`${name}: checks nonce, user and expiry before spending the nonce, and spends it once`, async () => {
      const store = make();
      await store.issue(issued('plan-abcdefgh'));
      const t = { planId: 'plan-abcdefgh', nonce: 'n0nce-secret' };
      expect(await store.claim({ ...t, planId: 'plan-other' }, 'U_ALICE', T0, 'confirmed')).toEqual({
        ok: false,
        why: 'unknown',
      });
      expect(await store.claim({ ...t, nonce: 'wrong' }, 'U_ALICE', T0, 'confirmed')).toEqual({
        ok: false,
        why: 'nonce',
      });
      expect(await store.claim(t, 'U_BOB', T0, 'confirmed')).toEqual({
        ok: false,
        why: 'user',
        issuedTo: 'U_ALICE',
      });
      expect(await store.claim(t, 'U_ALICE', T0 + 60_000, 'confirmed')).toEqual({
        ok: false,
        why: 'expired',
        expiresAt: T0 + 60_000,
      });
      const first = await store.claim(t, 'U_ALICE', T0 + 1, 'confirmed');
      expect(first).toEqual({ ok: true, plan: issued('plan-abcdefgh') });
      expect(await store.claim(t, 'U_ALICE', T0 + 2, 'cancelled')).toEqual({
        ok: false,
        why: 'used',
        use: 'confirmed',
        by: 'U_ALICE',
        at: T0 + 1,
      });
      expect(await store.get('plan-abcdefgh')).toEqual(issued('plan-abcdefgh'));
    });
  }
});
