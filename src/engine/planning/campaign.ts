import { InputError, NotFoundError } from '../errors.js';
import type { Blocker, Fleet } from '../model.js';
import { placeAll } from './placement.js';
import { compareNames, HostPool, type Placement } from './pool.js';
import { DrainQueue } from './queue.js';

/**
 * Rolling maintenance campaigns: drain hosts a few at a time, maintain them, re-enable them, go
 * on. The cost to avoid is moving a VM twice: a VM parked on a host that is still to be
 * maintained will have to leave it again.
 *
 * `planCampaign` keeps destinations in two tiers: hosts already maintained or outside the
 * campaign first, hosts still to be maintained only when nothing else has room. It drains next
 * the host whose VMs fit in the first tier (least loaded first, ties by name): with one host's
 * worth of spare capacity the first drained host empties onto the spare, and every later host
 * empties onto hosts already done, so every VM moves once. Without spare capacity only the first
 * step's VMs move twice, and it is the least loaded host.
 *
 * `planCampaignNaive` is the baseline: hosts in the order given, each VM to the least-loaded
 * compatible host, whether or not that host is still to be maintained.
 */

export interface CampaignOptions {
  /** Hosts drained at once in each step; default 1. */
  parallel?: number;
}

export interface CampaignStep {
  /** Hosts drained (and then maintained) in this step. */
  hosts: string[];
  placements: Placement[];
}

export interface CampaignPlan {
  steps: CampaignStep[];
  /** Migrations per VM that moves at all (1 when none moves twice; 0 when none moves). */
  migrationsPerVm: number;
  /** VMs that stay on a host of the campaign, each reported once. */
  blockers: Blocker[];
}

/** Names of the hosts carrying `label`, sorted: a campaign's host list. */
export function hostsWithLabel(fleet: Fleet, label: string): string[] {
  return fleet.hosts
    .filter((h) => h.labels.includes(label))
    .map((h) => h.name)
    .sort(compareNames);
}

const DONE = 0;
const TO_DO = 1;

/** Plans a rolling campaign over `hosts` in which, given spare capacity, every VM moves at most once. */
export function planCampaign(
  fleet: Fleet,
  hosts: readonly string[],
  options: CampaignOptions = {},
): CampaignPlan {
  const { pool, campaign, parallel } = prepare(fleet, hosts, options, 2);
  const inCampaign = new Set(campaign);
  pool.hosts.forEach((host, h) => {
    if (host.schedulable) pool.enlist(h, inCampaign.has(h) ? TO_DO : DONE);
  });
  const queue = new DrainQueue(pool, campaign);
  return run(pool, [DONE, TO_DO], () => {
    const chosen: number[] = [];
    let claimedMem = 0;
    let claimedCpu = 0;
    while (chosen.length < parallel && queue.size > 0) {
      const h = queue.take(DONE, claimedMem, claimedCpu)!;
      chosen.push(h);
      claimedMem += queue.load(h);
      claimedCpu += queue.cpus(h);
    }
    return chosen;
  });
}

/** The baseline: hosts in the order given, each VM to the least-loaded compatible host. */
export function planCampaignNaive(
  fleet: Fleet,
  hosts: readonly string[],
  options: CampaignOptions = {},
): CampaignPlan {
  const { pool, campaign, parallel } = prepare(fleet, hosts, options, 1);
  pool.hosts.forEach((host, h) => {
    if (host.schedulable) pool.enlist(h, 0);
  });
  let next = 0;
  return run(pool, [0], () => {
    const chosen = campaign.slice(next, next + parallel);
    next += chosen.length;
    return chosen;
  });
}

function prepare(
  fleet: Fleet,
  hosts: readonly string[],
  options: CampaignOptions,
  tiers: number,
): { pool: HostPool; campaign: number[]; parallel: number } {
  const parallel = options.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1)
    throw new InputError(`parallel must be a whole number of hosts, at least 1 (got ${parallel})`);
  if (hosts.length === 0) throw new InputError('a campaign needs at least one host');
  const pool = new HostPool(fleet, tiers);
  const seen = new Set<number>();
  const campaign = hosts.map((name) => {
    const h = pool.hostIndex.get(name);
    if (h === undefined) throw new NotFoundError(`no host named ${name} in the fleet`);
    if (seen.has(h)) throw new InputError(`${name} is listed twice in the campaign`);
    seen.add(h);
    return h;
  });
  return { pool, campaign, parallel };
}

/**
 * Drains the hosts `nextStep` returns until it returns none: they stop receiving, their VMs are
 * placed (tiers in preference order), then they are maintained and become destinations of the
 * first tier.
 */
function run(pool: HostPool, tiers: readonly number[], nextStep: () => number[]): CampaignPlan {
  const steps: CampaignStep[] = [];
  const blockers: Blocker[] = [];
  const reported = new Set<string>();
  // VMs moved at least once, by index: a Set of 400,000 names cost half a 10,000-host campaign.
  const moved = new Uint8Array(pool.instances.length);
  let distinct = 0;
  let migrations = 0;
  for (let chosen = nextStep(); chosen.length > 0; chosen = nextStep()) {
    for (const h of chosen) pool.delist(h);
    const leaving = chosen.flatMap((h) => pool.residents[h]!.filter((i) => pool.location[i] === h));
    const from = leaving.map((i) => pool.location[i]!);
    const result = placeAll(pool, leaving, tiers);
    leaving.forEach((i, k) => {
      if (pool.location[i] === from[k] || moved[i]) return;
      moved[i] = 1;
      distinct++;
    });
    for (const h of chosen) {
      pool.residents[h] = pool.residents[h]!.filter((i) => pool.location[i] === h);
      if (pool.hosts[h]!.schedulable) pool.enlist(h, tiers[0]!);
    }
    for (const b of result.blockers) {
      if (reported.has(b.instance)) continue;
      reported.add(b.instance);
      blockers.push(b);
    }
    migrations += result.placements.length;
    steps.push({ hosts: chosen.map((h) => pool.hosts[h]!.name), placements: result.placements });
  }
  return { steps, migrationsPerVm: distinct > 0 ? migrations / distinct : 0, blockers };
}
