import type { PolicyConfig } from '../config.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import type { Blocker, Fleet, Host, Instance, MaintenanceWindow, Move, Plan, Prediction } from '../model.js';
import { formatBytes, formatClock } from '../words.js';
import { predictMove } from './convergence.js';
import { chooseChannels, multifdPolicy } from './multifd.js';
import { type Placement, placeInstances, placeOnPool } from './placement.js';
import { admit, type HostsByName, sharesOf } from './schedule.js';

/**
 * Evacuation plans: placement, a prediction per move, and an offline run of the admission rule
 * over the convergence model that gives the drain's predicted makespan and what does not fit in
 * the maintenance window.
 */

export interface EvacuationOptions {
  /** Epoch ms: the drain starts now, or when the window opens if that is later. */
  now: number;
  window?: MaintenanceWindow;
  /** IANA zone for the times in blocker reasons; default UTC. */
  timeZone?: string;
  /** Hosts to keep VMs off unless nothing else has room (a campaign's hosts still to come). */
  avoid?: readonly string[];
  /** Hosts other evacuations are draining: never destinations. */
  draining?: readonly string[];
}

/**
 * A plan whose `moves` are the runnable set, in the order the simulation started them.
 * Moves predicted to finish after the window closes are left out of `moves`: each is a blocker
 * 'outside-window' and, with its prediction and `outsideWindow: true`, listed in `deferred`.
 */
export interface EvacuationPlan extends Plan {
  deferred: Move[];
  /** Per runnable move, predicted start and end, ms after the drain starts. */
  timeline: { instance: string; startMs: number; endMs: number }[];
}

/** Plans draining one host: where each VM goes, how long it takes, what stays and why. */
export function planEvacuation(
  fleet: Fleet,
  source: string,
  policy: PolicyConfig,
  options: EvacuationOptions,
): EvacuationPlan {
  const { window } = options;
  if (window && !(window.end > window.start))
    throw new InputError(
      `the maintenance window${window.name ? ` ${window.name}` : ''} ends before it starts`,
    );
  if (!fleet.hosts.some((h) => h.name === source)) throw missingHost(fleet, source);
  const { placements, blockers, pool, leaving } = placeOnPool(fleet, [source], {
    avoid: options.avoid,
    draining: options.draining,
  });
  // Only the hosts and VMs of this drain: maps of a 10,000-host, 400,000-VM fleet cost more
  // than the plan.
  const instances = new Map(leaving.map((i) => [pool.instances[i]!.name, pool.instances[i]!]));
  const hosts = new Map<string, Host>();
  for (const name of [source, ...placements.map((p) => p.to)])
    hosts.set(name, pool.hosts[pool.hostIndex.get(name)!]!);
  const sourceHost = hosts.get(source)!;
  // Cores not given to guests, for multifd's threads: the source's before any VM leaves, each
  // destination's once every VM has landed (the fewest either has during the drain).
  const spare = new Map<string, number>();
  for (const name of hosts.keys()) spare.set(name, pool.freeCpu[pool.hostIndex.get(name)!]!);
  const placed = new Set(placements.map((p) => p.instance));
  for (const i of leaving) {
    const inst = pool.instances[i]!;
    if (placed.has(inst.name)) spare.set(source, spare.get(source)! - inst.vcpus);
  }
  const spareOf = (p: Placement) => Math.min(spare.get(p.from)!, spare.get(p.to)!);
  let moves = placements.map((p) => moveFor(p, instances.get(p.instance)!, hosts, policy, spareOf(p)));

  const startAt = window ? Math.max(options.now, window.start) : options.now;
  const deferred: Move[] = [];
  const windowBlockers: Blocker[] = [];
  let run = simulate(moves, hosts, policy);
  if (window) {
    // Dropping the late moves lets the others start earlier; run again until everything fits.
    for (;;) {
      const late = run.moves.filter((m) => startAt + run.endMs.get(m.instance)! > window.end);
      if (late.length === 0) break;
      const zone = options.timeZone ?? 'UTC';
      for (const m of late) {
        deferred.push({ ...m, outsideWindow: true });
        const finish = startAt + run.endMs.get(m.instance)!;
        // Seconds only when the minutes alone would read "finishes at 05:00, after 05:00".
        const seconds = formatClock(finish, zone, window.end) === formatClock(window.end, zone);
        windowBlockers.push({
          instance: m.instance,
          code: 'outside-window',
          reason: `predicted to finish at ${formatClock(finish, zone, window.end, seconds)}, after the window${window.name ? ` ${window.name}` : ''} closes at ${formatClock(window.end, zone, undefined, seconds)}`,
        });
      }
      const dropped = new Set(late.map((m) => m.instance));
      moves = moves.filter((m) => !dropped.has(m.instance));
      run = simulate(moves, hosts, policy);
    }
  }
  const memory = run.moves.reduce((sum, m) => sum + m.memoryBytes, 0);
  return {
    source,
    // A move's duration as the schedule expects it: its share grows as others finish.
    moves: run.moves.map((m) => ({
      ...m,
      prediction: { ...m.prediction, durationMs: run.endMs.get(m.instance)! - run.startMs.get(m.instance)! },
    })),
    blockers: [...unreachableOn(fleet, source), ...blockers, ...windowBlockers],
    lowerBoundMs: (memory / sourceHost.nicBytesPerS) * 1000,
    predictedMakespanMs: run.makespanMs,
    window,
    deferred,
    timeline: run.moves.map((m) => ({
      instance: m.instance,
      startMs: run.startMs.get(m.instance)!,
      endMs: run.endMs.get(m.instance)!,
    })),
  };
}

export interface MigrationOptions {
  /** Destination chosen by the operator; validated. Default: the planner's choice. */
  to?: string;
  /** Hosts used only when nothing else has room (the planner's choice only). */
  avoid?: readonly string[];
  /** Hosts other evacuations are draining: never destinations (the planner's choice only). */
  draining?: readonly string[];
}

/**
 * Plans moving one VM. A `to` that does not exist, is the VM's own host, is not compatible,
 * is disabled or has no room throws an error saying why; a VM that cannot move at all (or for
 * which no host has room) is a blocker of the plan, as in an evacuation.
 */
export function planMigration(
  fleet: Fleet,
  instance: string,
  policy: PolicyConfig,
  options: MigrationOptions = {},
): Plan {
  const hosts = hostMap(fleet);
  const inst = fleet.instances.find((i) => i.name === instance);
  if (!inst) throw new NotFoundError(`no instance named ${instance} in the fleet`);
  const source = hosts.get(inst.host);
  if (!source) throw new NotFoundError(`${instance} is on ${inst.host}, which is not in the fleet`);
  let placement: Placement | undefined;
  const blockers: Blocker[] = [];
  if (!inst.migratable) {
    blockers.push({
      instance,
      code: 'not-migratable',
      reason: inst.notMigratableReason ?? 'marked as not live-migratable',
    });
  } else if (options.to !== undefined) {
    checkDestination(fleet, inst, source, hosts, options.to);
    placement = { instance, from: inst.host, to: options.to };
  } else {
    const placed = placeInstances(fleet, [inst.host], {
      instances: [instance],
      avoid: options.avoid,
      draining: options.draining,
    });
    placement = placed.placements[0];
    blockers.push(...placed.blockers);
  }
  const moves = placement
    ? [moveFor(placement, inst, hosts, policy, spareCores(fleet, placement, inst))]
    : [];
  return {
    source: inst.host,
    moves,
    blockers,
    lowerBoundMs: (inst.memoryBytes / source.nicBytesPerS) * 1000 * moves.length,
    predictedMakespanMs: moves[0]?.prediction.durationMs ?? 0,
  };
}

/** Throws, saying why, unless `inst` may move from `source` to `to` on `fleet` as it is. */
export function checkDestination(
  fleet: Fleet,
  inst: Instance,
  source: Host,
  hosts: ReadonlyMap<string, Host>,
  to: string,
): void {
  const dest = hosts.get(to);
  if (!dest) throw new NotFoundError(`no host named ${to} in the fleet`);
  if (to === inst.host) throw new InputError(`${inst.name} already runs on ${to}; choose another host`);
  if (source.cpuModel !== undefined && dest.cpuModel !== source.cpuModel)
    throw new InputError(
      `${to} has cpuModel ${dest.cpuModel ?? '(none)'}, but ${inst.name} needs ${source.cpuModel} like ${source.name}`,
    );
  if (source.az !== undefined && dest.az !== source.az)
    throw new InputError(
      `${to} is in ${dest.az ?? 'no availability zone'}, but ${inst.name} must stay in ${source.az}`,
    );
  if (!dest.schedulable)
    throw new ConflictError(
      `${to} is disabled for scheduling${dest.disabledReason ? ` (${dest.disabledReason})` : ''}`,
    );
  let memory = dest.memoryBytes;
  let vcpus = dest.vcpus;
  for (const other of fleet.instances) {
    if (other.host !== to) continue;
    memory -= other.memoryBytes;
    vcpus -= other.vcpus;
    if (inst.antiAffinityGroup && other.antiAffinityGroup === inst.antiAffinityGroup)
      throw new ConflictError(
        `${to} already runs ${other.name} of anti-affinity group ${inst.antiAffinityGroup}; ${inst.name} may not join it`,
      );
  }
  if (memory < inst.memoryBytes || vcpus < inst.vcpus)
    throw new ConflictError(
      `${to} has ${formatBytes(Math.max(0, memory))} and ${Math.max(0, vcpus)} vCPUs free; ${inst.name} needs ${formatBytes(inst.memoryBytes)} and ${inst.vcpus} vCPUs`,
    );
}

/**
 * A move with its channels (multifd.ts) and its prediction at the best bandwidth it can get (alone
 * on its links). `spareCores`: the fewest cores not given to guests on either host.
 */
function moveFor(
  p: Placement,
  inst: Instance,
  hosts: HostsByName,
  policy: PolicyConfig,
  spareCores: number,
): Move {
  const move: Move = {
    instance: p.instance,
    from: p.from,
    to: p.to,
    memoryBytes: inst.memoryBytes,
    dirtyBytesPerS: inst.dirtyBytesPerS,
    downtimeSloMs: inst.downtimeSloMs ?? policy.downtimeSloMs,
    ...(inst.switchoverRefused !== undefined && { switchoverRefused: inst.switchoverRefused }),
    prediction: undefined as unknown as Prediction,
  };
  const choice = chooseChannels(move, hosts, policy, spareCores);
  move.prediction = choice.prediction;
  if (choice.channels > 1) move.channels = choice.channels;
  if (choice.why !== undefined) move.channelsWhy = choice.why;
  return move;
}

/**
 * Cores not given to guests on the busier of a single move's two hosts, the destination counted
 * with the VM landed (a scan: one VM's plan).
 */
function spareCores(fleet: Fleet, p: Placement, inst: Instance): number {
  const spare = new Map<string, number>();
  for (const h of fleet.hosts) if (h.name === p.from || h.name === p.to) spare.set(h.name, h.vcpus);
  for (const i of fleet.instances) if (spare.has(i.host)) spare.set(i.host, spare.get(i.host)! - i.vcpus);
  return Math.min(spare.get(p.from) ?? 0, (spare.get(p.to) ?? 0) - inst.vcpus);
}

/** A move's prediction at a share; a multifd move cannot switch to post-copy. */
function predictAt(move: Move, bandwidthBytesPerS: number, policy: PolicyConfig): Prediction {
  return predictMove(
    {
      memoryBytes: move.memoryBytes,
      dirtyBytesPerS: move.dirtyBytesPerS,
      downtimeSloMs: move.downtimeSloMs,
      bandwidthBytesPerS,
    },
    multifdPolicy(policy, move.channels),
  );
}

interface Simulation {
  /** The moves in the order they started, each predicted at the share it got when it started. */
  moves: Move[];
  startMs: Map<string, number>;
  endMs: Map<string, number>;
  makespanMs: number;
}

/**
 * Event-driven run of the admission rule: at each start or finish, shares are recomputed
 * (max-min fair) and each running move's prediction is re-made at its new share. Progress is
 * counted as the fraction of the predicted duration done, so a move slowed halfway keeps the half
 * it has. Approximate by design (pre-copy volume depends on the rate), and cheap: two events per
 * move.
 */
function simulate(moves: readonly Move[], hosts: HostsByName, policy: PolicyConfig): Simulation {
  let pending = [...moves];
  let running: { move: Move; done: number }[] = [];
  const started: Move[] = [];
  const startMs = new Map<string, number>();
  const endMs = new Map<string, number>();
  let now = 0;
  while (pending.length > 0 || running.length > 0) {
    let admitted = admit({ running: running.map((r) => r.move), pending, hosts, policy });
    // Cannot happen with the rule's caps on need, but a plan must never loop forever.
    if (admitted.length === 0 && running.length === 0) admitted = [pending[0]!];
    if (admitted.length > 0) {
      const names = new Set(admitted.map((m) => m.instance));
      pending = pending.filter((m) => !names.has(m.instance));
      const shares = sharesOf([...running.map((r) => r.move), ...admitted], hosts, policy);
      for (const m of admitted) {
        const move = { ...m, prediction: predictAt(m, shares.get(m.instance)!, policy) };
        running.push({ move, done: 0 });
        started.push(move);
        startMs.set(m.instance, now);
      }
    }
    const shares = sharesOf(
      running.map((r) => r.move),
      hosts,
      policy,
    );
    const durations = running.map((r) => predictAt(r.move, shares.get(r.move.instance)!, policy).durationMs);
    // The move closest to its end finishes at this step, whatever rounding or an absurd size
    // (Infinity, NaN from a driver's inventory) does to the others: every round ends one move, so
    // the loop runs at most twice per move.
    let first = 0;
    let step = Number.POSITIVE_INFINITY;
    running.forEach((r, i) => {
      const left = (1 - r.done) * durations[i]!;
      if (left < step) [first, step] = [i, left];
    });
    if (!(step >= 0)) step = Number.POSITIVE_INFINITY;
    now += step;
    const still: typeof running = [];
    running.forEach((r, i) => {
      const d = durations[i]!;
      r.done = d > 0 ? r.done + step / d : 1;
      if (i === first || r.done >= 1 - 1e-9) endMs.set(r.move.instance, now);
      else still.push(r);
    });
    running = still;
  }
  return { moves: started, startMs, endMs, makespanMs: now };
}

/**
 * Instances the back end cannot see now that may be on `source` (their host is unknown or is
 * it): the drain cannot promise it leaves the host empty, so each is named as a blocker.
 */
function unreachableOn(fleet: Fleet, source: string): Blocker[] {
  return (fleet.unreachable ?? [])
    .filter((u) => u.kind === 'instance' && (u.host === undefined || u.host === source))
    .map((u) => ({ instance: u.name, code: 'unreachable', reason: u.reason }));
}

/** A source that is not in the fleet: unknown, or known but unreachable now (say why). */
function missingHost(fleet: Fleet, name: string): Error {
  const down = fleet.unreachable?.find((u) => u.kind === 'host' && u.name === name);
  if (down) return new ConflictError(`${name} cannot be planned now: ${down.reason}`);
  return new NotFoundError(`no host named ${name} in the fleet`);
}

function hostMap(fleet: Fleet): Map<string, Host> {
  return new Map(fleet.hosts.map((h) => [h.name, h]));
}
