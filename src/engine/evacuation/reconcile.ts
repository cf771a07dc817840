import type { Driver, MigrationHandle, Whereabouts } from '../drivers/driver.js';
import { DriverUnreachableError } from '../errors.js';
import type { Migration } from '../model.js';

/**
 * A migration the back end no longer knows (MigrationLostError: its QEMU died, its host rebooted,
 * the simulator restarted) ends with what the back end can still tell: where the VM is now and
 * whether it runs. Asking the migration again would give the same answer for ever.
 */

export type Reconciled =
  | { state: 'completed'; cause: string }
  | { state: 'failed' | 'aborted'; cause: string };

/** Where the back end has the handle's guest: the hypervisors' answer where the driver asks them, else its inventory. */
export async function whereIs(driver: Driver, handle: MigrationHandle): Promise<Whereabouts> {
  if (driver.locate) return driver.locate(handle);
  const fleet = await driver.inventory();
  const instance = fleet.instances.find((i) => i.name === handle.instance);
  // Listed with a reason it cannot move (Nova: SHUTOFF, ERROR): on that host, running or not.
  if (instance)
    return instance.notMigratableReason === undefined
      ? { host: instance.host, running: true }
      : { host: instance.host, detail: instance.notMigratableReason };
  // An instance the back end cannot describe now (a Nova cell down names it by id only) may be
  // this one, on its source or destination: not "nowhere" yet; ask again next step.
  const unreachable = fleet.unreachable?.find(
    (u) =>
      u.kind === 'instance' &&
      (u.name === handle.instance || u.host === undefined || u.host === handle.from || u.host === handle.to),
  );
  if (unreachable)
    throw new DriverUnreachableError(
      `where ${handle.instance} is cannot be told: ${unreachable.name}: ${unreachable.reason}`,
    );
  return { detail: `the ${driver.kind} inventory lists no instance ${handle.instance}` };
}

/** The outcome the VM's whereabouts mean for a migration that was lost. */
export function reconcile(migration: Migration, where: Whereabouts): Reconciled {
  const { instance, from, to } = migration;
  const detail = where.detail ? ` (${where.detail})` : '';
  if (where.host === undefined)
    return {
      state: 'failed',
      cause: `the migration was lost and ${instance} is on neither ${from} nor ${to}${detail}: it may be down; find it before anything else`,
    };
  if (where.running === false)
    return {
      state: 'failed',
      cause: `the migration was lost and ${instance} is on ${where.host} but not running${detail}: look at it now`,
    };
  const running = where.running ? 'running' : 'listed';
  if (where.host === to)
    return {
      state: 'completed',
      cause: `the back end no longer knew the migration; the VM is ${running} on its destination ${to}${detail}`,
    };
  if (where.host === from)
    return {
      // An abort asked for and a VM left on its source: what the operator wanted.
      state: migration.state === 'aborting' ? 'aborted' : 'failed',
      cause: `the VM is ${running} on its source; the migration was lost${detail}`,
    };
  return {
    state: 'failed',
    cause: `the migration was lost and ${instance} is on ${where.host}, neither its source ${from} nor its destination ${to}${detail}`,
  };
}
