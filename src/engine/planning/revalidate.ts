import type { PolicyConfig } from '../config.js';
import { NotFoundError, toFerryError } from '../errors.js';
import type { Blocker, Fleet, Instance, Move, Plan } from '../model.js';
import type { FleetFacts } from '../ports.js';
import { checkDestination, planMigration } from './plan.js';

/**
 * A stored plan checked against the fleet as it is when its evacuation starts. The plan the
 * operator confirmed is what runs: a move is kept as planned while its VM is still on the source
 * and its destination still takes it; only the others are placed again, and each change says
 * what changed and why.
 */

/** One difference between the confirmed plan and the one that runs. */
export interface PlanChange {
  instance: string;
  /** The destination the confirmed plan had (absent: the VM was not in the plan's moves). */
  from?: string;
  /** The destination it has now (absent: it stays on the source, or it left the host). */
  to?: string;
  why: string;
}

export interface RevalidateOptions {
  /** Hosts other evacuations are draining: never destinations. */
  draining?: readonly string[];
  /** Hosts used only when nothing else has room, when a move is placed again. */
  avoid?: readonly string[];
  /** The operator chose the destination (`/ferry migrate VM to HOST`): never placed elsewhere. */
  pinned?: boolean;
  /** A single-VM migration: only its own instance counts, not the others on the source. */
  only?: string;
}

/** The plan to run on `fleet`, and every change from `plan` with its reason. Pure. */
export function revalidatePlan(
  plan: Plan,
  fleet: Fleet,
  policy: PolicyConfig,
  options: RevalidateOptions = {},
): { plan: Plan; changes: PlanChange[] } {
  const { source } = plan;
  const hosts = new Map(fleet.hosts.map((h) => [h.name, h]));
  const sourceHost = hosts.get(source);
  if (!sourceHost) throw new NotFoundError(`no host named ${source} in the fleet`);
  // The fleet as it will be once the kept moves have landed: later checks see their room taken.
  const landed: Fleet = { ...fleet, instances: fleet.instances.map((i) => ({ ...i })) };
  const current = new Map(landed.instances.map((i) => [i.name, i]));
  const draining = new Set(options.draining ?? []);
  const changes: PlanChange[] = [];
  const moves: Move[] = [];
  const again: { instance: Instance; from?: string; why: string }[] = [];

  for (const move of plan.moves) {
    const inst = current.get(move.instance);
    if (!inst || inst.host !== source) {
      changes.push({
        instance: move.instance,
        from: move.to,
        why: inst ? `it runs on ${inst.host} now, not on ${source}` : 'it no longer exists',
      });
      continue;
    }
    const why = draining.has(move.to)
      ? `${move.to} is being drained by another evacuation`
      : refusal(() => checkDestination(landed, inst, sourceHost, hosts, move.to));
    if (why) {
      again.push({ instance: inst, from: move.to, why });
      continue;
    }
    moves.push(move);
    inst.host = move.to;
  }

  const known = new Set([...plan.moves.map((m) => m.instance), ...plan.blockers.map((b) => b.instance)]);
  if (!options.only)
    for (const inst of landed.instances)
      if (inst.host === source && !known.has(inst.name))
        again.push({ instance: inst, why: `it arrived on ${source} after the plan was made` });

  const blockers: Blocker[] = plan.blockers.filter((b) => {
    const inst = current.get(b.instance);
    // A blocker the back end could not see (unreachable) has no instance record: it stays.
    if (!inst) return b.code === 'unreachable';
    if (inst.host === source) return true;
    changes.push({ instance: b.instance, why: `it runs on ${inst.host} now; nothing to do` });
    return false;
  });

  for (const { instance, from, why } of again) {
    const replanned = options.pinned
      ? undefined
      : planMigration(landed, instance.name, policy, { avoid: options.avoid, draining: options.draining });
    const move = replanned?.moves[0];
    if (move) {
      moves.push(move);
      current.get(instance.name)!.host = move.to;
      changes.push({ instance: instance.name, from, to: move.to, why: `${why}; placed on ${move.to}` });
      continue;
    }
    const stays = replanned?.blockers[0];
    const reason = stays ? `${why}; ${stays.reason}` : `${why}; the destination was chosen by hand`;
    blockers.push({ instance: instance.name, code: stays?.code ?? 'precheck-failed', reason });
    changes.push({ instance: instance.name, from, why: `${reason}; it stays on ${source}` });
  }
  return { plan: { ...plan, moves, blockers }, changes };
}

/** What plans of draining `sources` assume: the sources' instances, and every host's state and size. */
export function fleetFacts(fleet: Fleet, sources: readonly string[], at: number): FleetFacts {
  const drained = new Set(sources);
  return {
    at,
    hosts: fleet.hosts.map(({ name, schedulable, vcpus, memoryBytes }) => ({
      name,
      schedulable,
      vcpus,
      memoryBytes,
    })),
    instances: fleet.instances
      .filter((i) => drained.has(i.host))
      .map(({ name, host, vcpus, memoryBytes, migratable }) => ({
        name,
        host,
        vcpus,
        memoryBytes,
        migratable,
      })),
  };
}

/** The message a check throws, or undefined when it passes. */
function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    return toFerryError(err).userMessage;
  }
}
