import { fairShares, migrationStream, type Stream, streamCapsOf } from '../bandwidth.js';
import type { PolicyConfig } from '../config.js';
import type { Host, Move, Strategy } from '../model.js';
import { bandwidthToConverge } from './convergence.js';

/**
 * Admission: which pending moves may start now, given the ones running. The runner calls
 * `admit` on every control tick; the planner calls it in its offline simulation, so the plan's
 * predicted makespan comes from the same rule the runner follows.
 *
 * 'bandwidth' (ferry). Every migration is a stream through its source and destination NICs,
 * capped per stream; TCP shares links max-min fairly (`fairShares`). A move is admitted only if,
 * with it added, every stream still gets its need: dirty rate × convergenceMargin (a pre-copy
 * below that never converges). Two refinements:
 *  - a need is capped at what the stream could get alone (stream cap, both NICs), so a heavy
 *    writer that needs a whole link is started once the link is free instead of never;
 *  - moves whose plan already counts on auto-converge, post-copy or pause converge whatever the
 *    bandwidth (the guest is throttled, or the switchover is forced), so they need only
 *    RELAXED_SHARE of that: enough to keep the throttle, the post-copy risk window or the pause
 *    short, not enough to crowd out others.
 * Pending moves are tried largest need first, so heavy writers start when their links can carry
 * them and small moves fill the gaps. When a move is refused because its source link is busy
 * (it would fit were that link idle), that link is reserved for it: no smaller move from the same
 * source starts this tick, otherwise a stream of small moves would starve the heavy writer.
 * The max* ceilings always apply.
 *
 * 'fixed' (the anchors: Nova, KubeVirt, oVirt). FIFO in the order given, as long as
 * maxPerSource, maxPerDestination and maxGlobal allow; a move blocked by a ceiling of its own
 * hosts does not hold back moves between other hosts.
 */

/** Hosts by name; a Map or a plain object. */
export type HostsByName = ReadonlyMap<string, Host> | Readonly<Record<string, Host>>;

export type AdmissionPolicy = Pick<
  PolicyConfig,
  | 'admission'
  | 'maxPerSource'
  | 'maxPerDestination'
  | 'maxGlobal'
  | 'streamCapGbps'
  | 'multifdChannelCapGbps'
  | 'multifdChannelCpuCores'
  | 'multifdSharePct'
  | 'convergenceMargin'
>;

export interface AdmissionInput {
  /** Moves migrating now (every evacuation's, so shared links are counted). */
  running: readonly Move[];
  /** Moves waiting to start, in plan order (the FIFO order of 'fixed'). */
  pending: readonly Move[];
  hosts: HostsByName;
  policy: AdmissionPolicy;
}

/** Fraction of its need a move already planned for auto-converge, post-copy or pause must get. */
export const RELAXED_SHARE = 0.5;

const RELAXED: readonly Strategy[] = ['auto-converge', 'postcopy', 'pause'];

/** The pending moves to start now, in the order to start them. Pure. */
export function admit(input: AdmissionInput): Move[] {
  return input.policy.admission === 'fixed' ? admitFixed(input) : admitByBandwidth(input);
}

/**
 * Max-min fair share of each move (by instance name), bytes/s, with host NICs and each move's
 * cap: one stream's, or its multifd channels' (which also weigh as that many connections).
 */
export function sharesOf(
  moves: readonly Move[],
  hosts: HostsByName,
  policy: AdmissionPolicy,
): Map<string, number> {
  const caps = streamCapsOf(policy);
  const links = new Map<string, number>();
  const streams: Stream[] = moves.map((m) => {
    for (const name of [m.from, m.to]) {
      const host = hostOf(hosts, name);
      if (host) links.set(name, host.nicBytesPerS);
    }
    return { id: m.instance, from: m.from, to: m.to, ...migrationStream(m.channels, caps) };
  });
  return fairShares(streams, links);
}

/** What a move can get with nothing else on its links (at `channels`, default its own), bytes/s. */
export function aloneRate(
  move: Pick<Move, 'from' | 'to' | 'channels'>,
  hosts: HostsByName,
  policy: AdmissionPolicy,
  channels = move.channels,
): number {
  const from = hostOf(hosts, move.from)?.nicBytesPerS ?? Number.POSITIVE_INFINITY;
  const to = hostOf(hosts, move.to)?.nicBytesPerS ?? Number.POSITIVE_INFINITY;
  return Math.min(migrationStream(channels, streamCapsOf(policy)).capBytesPerS, from, to);
}

/**
 * The share a move must keep to be admitted (see the module comment), bytes/s. A move given
 * multifd channels also needs `multifdSharePct` of what they carry alone: split four ways on a
 * full link, its channels would buy nothing, and its pages would be dirtied and sent again as on
 * one stream.
 */
export function bandwidthNeed(move: Move, hosts: HostsByName, policy: AdmissionPolicy): number {
  const alone = aloneRate(move, hosts, policy);
  const converge = bandwidthToConverge(move, policy.convergenceMargin);
  const multifd = (move.channels ?? 1) > 1 ? (alone * policy.multifdSharePct) / 100 : 0;
  const need = Math.min(Math.max(converge, multifd), alone);
  return RELAXED.includes(move.prediction.strategy) ? need * RELAXED_SHARE : need;
}

class Ceilings {
  private readonly out = new Map<string, number>();
  private readonly into = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly policy: AdmissionPolicy,
    running: readonly Move[],
  ) {
    for (const m of running) this.add(m);
  }

  allow(m: Move): boolean {
    return (
      this.total < this.policy.maxGlobal &&
      (this.out.get(m.from) ?? 0) < this.policy.maxPerSource &&
      (this.into.get(m.to) ?? 0) < this.policy.maxPerDestination
    );
  }

  add(m: Move): void {
    this.total++;
    this.out.set(m.from, (this.out.get(m.from) ?? 0) + 1);
    this.into.set(m.to, (this.into.get(m.to) ?? 0) + 1);
  }
}

function admitFixed({ running, pending, policy }: AdmissionInput): Move[] {
  const ceilings = new Ceilings(policy, running);
  const started: Move[] = [];
  for (const m of pending) {
    if (!ceilings.allow(m)) continue;
    ceilings.add(m);
    started.push(m);
  }
  return started;
}

function admitByBandwidth({ running, pending, hosts, policy }: AdmissionInput): Move[] {
  const ceilings = new Ceilings(policy, running);
  const need = new Map<string, number>();
  for (const m of [...running, ...pending]) need.set(m.instance, bandwidthNeed(m, hosts, policy));
  // Longest first (LPT, the classic makespan rule): a big VM started last runs alone at the end
  // at one stream's cap while the NIC idles. Then by bandwidth need, then plan order.
  const order = pending
    .map((m, i) => ({ m, i }))
    .sort(
      (a, b) =>
        b.m.prediction.durationMs - a.m.prediction.durationMs ||
        need.get(b.m.instance)! - need.get(a.m.instance)! ||
        a.i - b.i,
    )
    .map(({ m }) => m);

  let active = [...running];
  let shares = sharesOf(active, hosts, policy);
  const reserved = new Set<string>();
  const started: Move[] = [];

  // With `m` added, every stream keeps its need, or at least does not lose share it already lacked.
  const fits = (base: readonly Move[], baseShares: Map<string, number>, m: Move) => {
    const trial = [...base, m];
    const after = sharesOf(trial, hosts, policy);
    const ok = trial.every((s) => {
      const share = after.get(s.instance)!;
      if (share >= need.get(s.instance)! * (1 - 1e-9)) return true;
      return s !== m && share >= baseShares.get(s.instance)! * (1 - 1e-9);
    });
    return ok ? after : undefined;
  };

  for (const m of order) {
    if (reserved.has(m.from) || !ceilings.allow(m)) continue;
    const after = fits(active, shares, m);
    if (after) {
      active = [...active, m];
      shares = after;
      ceilings.add(m);
      started.push(m);
      continue;
    }
    const others = active.filter((s) => s.from !== m.from);
    if (fits(others, sharesOf(others, hosts, policy), m)) reserved.add(m.from);
  }
  return started;
}

export function hostOf(hosts: HostsByName, name: string): Host | undefined {
  if (hosts instanceof Map) return hosts.get(name);
  return Object.hasOwn(hosts, name) ? (hosts as Readonly<Record<string, Host>>)[name] : undefined;
}
