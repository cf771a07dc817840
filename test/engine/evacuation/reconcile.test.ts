import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { SimDriver } from '../../../src/engine/drivers/sim/driver.js';
import { reconcile, whereIs } from '../../../src/engine/evacuation/reconcile.js';
import { GiB, type Migration } from '../../../src/engine/model.js';

/** What a lost migration ends as, for each place its VM can be found. */

const migration = (state: Migration['state'] = 'running'): Migration =>
  ({ id: 'e1:db-1', evacuationId: 'e1', instance: 'db-1', from: 'hv1', to: 'hv2', state }) as Migration;

describe('reconcile: a lost migration ends as where its VM is says', () => {
  it('completed when the VM runs on its destination', () => {
    expect(reconcile(migration(), { host: 'hv2', running: true })).toEqual({
      state: 'completed',
      cause: 'the back end no longer knew the migration; the VM is running on its destination hv2',
    });
  });

  it('failed when the VM runs on its source; aborted when that is what an operator asked for', () => {
    const cause = 'the VM is running on its source; the migration was lost';
    expect(reconcile(migration(), { host: 'hv1', running: true })).toEqual({ state: 'failed', cause });
    expect(reconcile(migration('awaiting-approval'), { host: 'hv1', running: true }).state).toBe('failed');
    expect(reconcile(migration('aborting'), { host: 'hv1', running: true })).toEqual({
      state: 'aborted',
      cause,
    });
  });

  it('failed loudly when the VM is stopped, elsewhere or nowhere', () => {
    expect(reconcile(migration(), { host: 'hv2', running: false, detail: 'QEMU paused' })).toEqual({
      state: 'failed',
      cause: 'the migration was lost and db-1 is on hv2 but not running (QEMU paused): look at it now',
    });
    expect(reconcile(migration(), { host: 'hv7', running: true }).cause).toBe(
      'the migration was lost and db-1 is on hv7, neither its source hv1 nor its destination hv2',
    );
    expect(reconcile(migration(), { detail: 'no QEMU monitor' })).toEqual({
      state: 'failed',
      cause:
        'the migration was lost and db-1 is on neither hv1 nor hv2 (no QEMU monitor): it may be down; find it before anything else',
    });
  });

  it('says "listed" rather than "running" when the back end cannot tell', () => {
    expect(reconcile(migration(), { host: 'hv1', detail: 'Nova status SHUTOFF' }).cause).toBe(
      'the VM is listed on its source; the migration was lost (Nova status SHUTOFF)',
    );
  });
});

// A VM whose back end cannot describe it now (a down Nova cell): test/engine/drivers/nova/driver.test.ts.
describe('whereIs: from the inventory when the driver cannot locate', () => {
  const handle = { migrationId: 'e1:db-1', instance: 'db-1', from: 'hv1', to: 'hv2' };
  const sim = (instances: { name: string; host: string }[]) =>
    new SimDriver({
      clock: new VirtualClock(),
      streamCapBytesPerS: 1e9,
      fleet: {
        hosts: ['hv1', 'hv2'].map((name) => ({
          name,
          vcpus: 8,
          memoryBytes: 64 * GiB,
          nicBytesPerS: 1e9,
          schedulable: true,
          labels: [],
        })),
        instances: instances.map((i) => ({
          ...i,
          vcpus: 1,
          memoryBytes: GiB,
          migratable: true,
          dirtyBytesPerS: 0,
        })),
      },
    });

  it('finds the VM on the host the inventory lists it on, or nowhere', async () => {
    expect(await whereIs(sim([{ name: 'db-1', host: 'hv2' }]), handle)).toEqual({
      host: 'hv2',
      running: true,
    });
    expect(await whereIs(sim([]), handle)).toEqual({ detail: 'the sim inventory lists no instance db-1' });
  });
});
