import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { createLocalEngine } from '../../../src/engine/compose.js';
import { defaultPolicy, type PolicyConfig } from '../../../src/engine/config.js';
import type { Driver } from '../../../src/engine/drivers/driver.js';
import { SimDriver } from '../../../src/engine/drivers/sim/index.js';
import { ForbiddenError } from '../../../src/engine/errors.js';
import { type FerryEvent, type Fleet, GBPS, MiB } from '../../../src/engine/model.js';
import { host, vm } from '../../support/fleet.js';

/**
 * Asking early, through the whole in-process engine on the simulator: the batch asked at
 * confirm, a pre-approved switchover that waits for nobody, and every way a pre-approval falls
 * back to the live path (rejected, undecided, expired, worse facts) or lapses with its evacuation.
 */

const T0 = Date.UTC(2026, 10, 24, 2, 0);

function fleet(): Fleet {
  return {
    hosts: [host('hv1'), host('hv2'), host('hv3')],
    instances: [
      vm('web-1', 'hv1', 4, { dirtyBytesPerS: 10 * MiB }),
      vm('db-1', 'hv1', 16, { dirtyBytesPerS: 1500 * MiB, downtimeSloMs: 300 }),
    ],
  };
}

/** A back end whose inventory under-reports db-1's dirty rate: the plan (and the pre-approval) see less than the guest does. */
function underReporting(sim: SimDriver, dirtyBytesPerS: number): Driver {
  return new Proxy(sim, {
    get(target, prop, receiver) {
      if (prop === 'inventory')
        return async () => {
          const seen = await target.inventory();
          return {
            ...seen,
            instances: seen.instances.map((i) => (i.name === 'db-1' ? { ...i, dirtyBytesPerS } : i)),
          };
        };
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

function setup(options: { policy?: Partial<PolicyConfig>; reportDirty?: number } = {}) {
  const clock = new VirtualClock(T0);
  const policy = { ...defaultPolicy, allowAutoConverge: false, ...options.policy };
  const sim = new SimDriver({ fleet: fleet(), clock, streamCapBytesPerS: policy.streamCapGbps * GBPS });
  const driver = options.reportDirty === undefined ? sim : underReporting(sim, options.reportDirty);
  const config = { policy, windows: [], timezone: 'UTC', maintenance: { reenable: true, timeoutS: 60 } };
  return { clock, sim, ...createLocalEngine({ config, driver, clock }) };
}

const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

async function waitFor<T>(
  clock: VirtualClock,
  probe: () => Promise<T | undefined>,
  what: string,
): Promise<T> {
  const deadline = clock.now() + 3_600_000;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (clock.now() > deadline) throw new Error(`no ${what} within a simulated hour`);
    await clock.sleep(1000);
  }
}

const liveRequest = (events: FerryEvent[]) =>
  ofType(events, 'approval.requested').find((e) => e.approval.stage === 'live')?.approval;

describe('asking early', () => {
  it('lists the move in the plan, asks once at confirm, and switches over pre-approved without waiting', async () => {
    const { service, launcher, store, sim } = setup();
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    expect(issued.plans[0]!.askEarly).toEqual(['db-1']);
    const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, 'U_ALICE');

    const asked = await service.approvals(id);
    expect(asked.map((a) => [a.request.instance, a.request.kind, a.request.stage])).toEqual([
      ['db-1', 'postcopy', 'early'],
    ]);
    await expect(service.decideAll(id, 'approved', 'U_ALICE')).rejects.toBeInstanceOf(ForbiddenError);
    const decided = await service.decideAll(id, 'approved', 'U_BOB');
    expect(decided.map((d) => [d.approvalId, d.outcome])).toEqual([[`${id}:db-1:pre-approval`, 'approved']]);

    expect((await launcher.finished(id))?.state).toBe('completed');
    const events = await store.events(id);
    expect(liveRequest(events)).toBeUndefined();
    const switchover = ofType(events, 'migration.switchover')[0]!;
    expect(switchover).toMatchObject({ instance: 'db-1', kind: 'postcopy' });
    // As pages flow: after the start, within the first pass (16 GiB at 1 GB/s).
    const started = ofType(events, 'migration.started').find((e) => e.instance === 'db-1')!;
    expect(switchover.at - started.at).toBeGreaterThan(0);
    expect(switchover.at - started.at).toBeLessThan(16_000);
    expect(ofType(events, 'approval.decided').map((e) => e.decision.decidedBy)).toEqual(['U_BOB']);
    expect((await sim.inventory()).instances.find((i) => i.name === 'db-1')?.host).toBe('hv2');

    const audit = await service.audit(id);
    expect(audit.map((e) => [e.who, e.action, e.refused !== undefined])).toEqual(
      expect.arrayContaining([
        ['U_ALICE', 'ask early', false],
        ['U_ALICE', 'approve all', true],
        ['U_BOB', 'approve all', false],
        ['U_BOB', 'approve', false],
      ]),
    );
  });

  it('takes the live path for a rejected one: asks when the move needs it', async () => {
    const { service, store, clock } = setup();
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await service.decide(`${id}:db-1:pre-approval`, 'rejected', 'U_BOB');
    const live = await waitFor(clock, async () => liveRequest(await store.events(id)), 'live request');
    expect(live).toMatchObject({ instance: 'db-1', kind: 'postcopy', requestedBy: 'U_ALICE' });
    expect((await service.status(id)).migrations.find((m) => m.instance === 'db-1')?.state).toBe(
      'awaiting-approval',
    );
  });

  it('lapses one nobody decided when its move needs it, and asks then', async () => {
    const { service, store, clock } = setup();
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    const live = await waitFor(clock, async () => liveRequest(await store.events(id)), 'live request');
    const events = await store.events(id);
    expect(ofType(events, 'approval.decided')[0]?.decision).toMatchObject({
      approvalId: `${id}:db-1:pre-approval`,
      outcome: 'expired',
      decidedBy: 'system',
    });
    expect(live.id).toBe(`${id}:db-1:approval-1`);
    // Too late to approve the early one now: it lapsed.
    expect(await service.decide(`${id}:db-1:pre-approval`, 'approved', 'U_BOB')).toMatchObject({
      outcome: 'expired',
    });
  });

  it('does not use one that expired before its move needed it', async () => {
    const { service, store, clock } = setup({ policy: { preApprovalMaxS: 1 } });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await clock.sleep(2000);
    // Approved after its life: recorded as the expiry, never as an approval.
    expect(await service.decide(`${id}:db-1:pre-approval`, 'approved', 'U_BOB')).toMatchObject({
      outcome: 'expired',
    });
    await waitFor(clock, async () => liveRequest(await store.events(id)), 'live request');
    expect(ofType(await store.events(id), 'migration.switchover')).toEqual([]);
  });

  it('asks again when the guest dirties more than the pre-approval covers', async () => {
    // The plan sees 1100 MiB/s (still too much for pre-copy); the guest dirties 1500 MiB/s. A
    // pause, which waits for the first pass (and its measured dirty rate): a post-copy switches
    // over as pages flow, before any rate is measured, and sends no page twice whatever the rate.
    const { service, store, clock } = setup({ reportDirty: 1100 * MiB, policy: { allowPostCopy: false } });
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    const [early] = await service.approvals(id);
    expect(early!.request.covers?.dirtyBytesPerS).toBe(Math.ceil(1100 * MiB * 1.1));
    await service.decideAll(id, 'approved', 'U_BOB');
    await waitFor(clock, async () => liveRequest(await store.events(id)), 'live request');
    const events = await store.events(id);
    expect(ofType(events, 'migration.switchover')).toEqual([]);
    expect(ofType(events, 'approval.requested').map((e) => e.approval.stage)).toEqual(['early', 'live']);
  });

  it('lapses every pre-approval nobody decided when its evacuation ends, started or not', async () => {
    const { service, store, launcher, clock } = setup();
    const scheduled = await service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3_600_000 },
    });
    await service.control(scheduled.id, 'abort', 'U_ALICE');
    expect(
      ofType(await store.events(scheduled.id), 'approval.decided').map((e) => e.decision.outcome),
    ).toEqual(['expired']);

    const running = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    await clock.sleep(1000);
    expect((await service.status(running.id)).state).toBe('draining');
    await service.control(running.id, 'abort', 'U_ALICE');
    expect((await launcher.finished(running.id))?.state).toBe('aborted');
    const decided = ofType(await store.events(running.id), 'approval.decided');
    expect(decided.map((e) => [e.instance, e.decision.outcome])).toEqual([['db-1', 'expired']]);
  });

  it('asks nothing early with askEarly off', async () => {
    const { service } = setup({ policy: { askEarly: false } });
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    expect(issued.plans[0]!.askEarly).toBeUndefined();
    const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, 'U_ALICE');
    expect(await service.approvals(id)).toEqual([]);
  });
});
