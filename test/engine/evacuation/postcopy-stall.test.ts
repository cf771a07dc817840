import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { createLocalEngine } from '../../../src/engine/compose.js';
import { defaultPolicy } from '../../../src/engine/config.js';
import { SimDriver } from '../../../src/engine/drivers/sim/index.js';
import { decide, initialWatch } from '../../../src/engine/evacuation/policy.js';
import { type FerryEvent, GBPS, GiB, MiB, type ProgressSample } from '../../../src/engine/model.js';
import type { WatchState } from '../../../src/engine/ports.js';
import { postMortem } from '../../../src/engine/report.js';
import { noticeFor } from '../../../src/views/notices.js';
import { host, vm } from '../../support/fleet.js';

/**
 * A post-copy cannot be aborted, so one that stops making progress must never look merely
 * frozen: after stallTimeoutS it is raised once (an event, a thread notice that mentions the
 * approvers and says what can be done), the migration stays visible as switching over, and the
 * post-mortem names it.
 */

const policy = { ...defaultPolicy, stallTimeoutS: 30 };
const migration = { id: 'e1:db-1', instance: 'db-1', memoryBytes: 8 * GiB, downtimeSloMs: 300 };
const sample = (at: number, remainingBytes: number): ProgressSample => ({
  at,
  status: 'postcopy-active',
  totalBytes: 8 * GiB,
  transferredBytes: 8 * GiB - remainingBytes,
  remainingBytes,
  dirtyBytesPerS: 0,
  bandwidthBytesPerS: 0,
  iteration: 3,
});

/**
 * db-1 evacuated from hv1 by alice on the simulator, bob approving: its stream stops moving 20 s
 * in, so its pre-copy stalls, post-copy is approved, and stalls too. `adapt` changes the driver.
 */
function stallingEvacuation(clock: VirtualClock, adapt: (driver: SimDriver) => void = () => {}) {
  const driver = new SimDriver({
    fleet: {
      hosts: [host('hv1'), host('hv2')],
      instances: [vm('db-1', 'hv1', 8, { dirtyBytesPerS: 2000 * MiB, downtimeSloMs: 300 })],
    },
    clock,
    streamCapBytesPerS: 8 * GBPS,
    faults: [{ kind: 'stall', instance: 'db-1', afterMs: 20_000 }],
  });
  adapt(driver);
  const config = {
    policy: { ...policy, allowAutoConverge: false, askEarly: false },
    windows: [],
    timezone: 'UTC',
    maintenance: { reenable: true, timeoutS: 60 },
  };
  return createLocalEngine({ config, driver, clock, answer: { outcome: 'approved', by: 'U_BOB' } });
}

describe('a stalled post-copy', () => {
  it('is raised once after stallTimeoutS without progress, and again after it moved and stalled anew', () => {
    let watch: WatchState = { ...initialWatch(policy, migration, 0), switchedOver: 'postcopy' };
    const step = (at: number, remaining: number) => {
      const next = decide({ policy, migration, watch, sample: sample(at, remaining), now: at });
      watch = next.watch;
      return next.actions;
    };
    expect(step(0, 4 * GiB)).toEqual([]);
    expect(step(29_000, 4 * GiB)).toEqual([]);
    expect(step(30_000, 4 * GiB)).toEqual([
      {
        kind: 'postcopy-stalled',
        remainingBytes: 4 * GiB,
        stalledForMs: 30_000,
        why: 'post-copy has made no progress for 30 s: 4.0 GiB still on the source',
      },
    ]);
    expect(step(90_000, 4 * GiB)).toEqual([]);
    // It moves again, then stalls again: raised again.
    expect(step(100_000, 2 * GiB)).toEqual([]);
    expect(step(130_000, 2 * GiB)).toMatchObject([{ kind: 'postcopy-stalled', stalledForMs: 30_000 }]);
  });

  it('shows in the stream, the thread notice (approvers mentioned) and the post-mortem, and stays switching over', async () => {
    const clock = new VirtualClock(Date.UTC(2026, 10, 24, 2, 0));
    const { service, store } = stallingEvacuation(clock);
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    let events: FerryEvent[] = [];
    const deadline = clock.now() + 3_600_000;
    while (!events.some((e) => e.type === 'migration.postcopy-stalled')) {
      expect(clock.now(), 'a post-copy stall raised within an hour').toBeLessThan(deadline);
      await clock.sleep(1000);
      events = await store.events(id);
    }
    const stalled = events.find((e) => e.type === 'migration.postcopy-stalled')!;
    expect(events.findIndex((e) => e.type === 'migration.switchover')).toBeLessThan(events.indexOf(stalled));
    expect(stalled).toMatchObject({ instance: 'db-1', stalledForMs: 30_000 });
    expect((await service.status(id)).migrations.find((m) => m.instance === 'db-1')?.state).toBe(
      'switching-over',
    );

    const notice = noticeFor(stalled, 'UTC', { approvers: ['U034BOB', 'S0LEADS'] })!;
    expect(notice).toContain('`db-1`: post-copy has made no progress for 30 s');
    expect(notice).toContain('It cannot be aborted: restore the migration network');
    expect(notice).toMatch(/<@U034BOB> <!subteam\^S0LEADS>$/);

    expect(postMortem(events).recommendations.join('\n')).toContain(
      "db-1's post-copy made no progress for 30 s: check the migration network between hv1 and hv2",
    );
  });

  it('is refused with what to do instead when the driver cannot recover it, wherever it is asked', async () => {
    const clock = new VirtualClock(0);
    // A back end with no recovery of its own (libvirt, Nova), which says what an operator can do.
    const { service, store, control } = stallingEvacuation(clock, (driver) =>
      Object.assign(driver, { recoverPostcopy: undefined, postcopyRecovery: 'restore the link by hand' }),
    );
    const { id } = await service.evacuate({ source: 'hv1', requestedBy: 'U_ALICE', maintenance: false });
    const waitFor = async (type: FerryEvent['type']) => {
      const deadline = clock.now() + 3_600_000;
      for (;;) {
        const found = (await store.events(id)).find((e) => e.type === type);
        if (found) return found;
        expect(clock.now(), `${type} within an hour`).toBeLessThan(deadline);
        await clock.sleep(1000);
      }
    };
    const stalled = await waitFor('migration.postcopy-stalled');
    expect(stalled).toMatchObject({ recovery: 'restore the link by hand' });
    expect(stalled).not.toHaveProperty('recoverable');
    const migrationId = `${id}:db-1`;

    // Asked where the driver is: refused at once, saying what to do.
    await expect(service.recoverPostcopy(migrationId, 'U_ALICE')).rejects.toThrow(
      'the sim driver cannot recover a post-copy itself: restore the link by hand',
    );
    // A request that reaches the runner anyway (an older bot wrote it): spent, and refused in the stream.
    await control.requestRecovery(migrationId, 1, 'U_CAROL');
    const refused = await waitFor('migration.postcopy-recovery');
    expect(refused).toMatchObject({
      by: 'U_CAROL',
      ok: false,
      cause: 'the sim driver cannot recover a post-copy itself: restore the link by hand',
    });
    expect(noticeFor(refused, 'UTC')).toContain(
      'post-copy recovery asked by U_CAROL could not run: the sim driver',
    );
    expect((await service.status(id)).migrations[0]!.state).toBe('switching-over');
  });
});
