import type { PolicyConfig } from '../src/engine/config.js';
import { GiB } from '../src/engine/model.js';
import { planCampaign, planCampaignNaive } from '../src/engine/planning/campaign.js';
import { EMPTY_FIGURES, migrationFigures, type ScenarioResult, type StrategyFigures } from './figures.js';
import { campaignFleet, type DrainFleet } from './fleets.js';
import { avoidableFailures, drainOnSim, lineRateBoundMs, rateBoundMs, type SimMode } from './simulate.js';
import { policyFor, type Strategy } from './strategies.js';

/**
 * The simulated scenarios: every strategy on the same fleet in the same process, through the
 * whole engine on the simulator (the planning-only ones are in scale.ts).
 */

export interface ScenarioContext {
  seed: number;
  strategies: readonly Strategy[];
  /** The operator's policy (config file) or ferry's defaults; strategies override it. */
  basePolicy: PolicyConfig;
  /** Event-driven (skip quiet polls) or the stepper (every poll). */
  mode: SimMode;
  log: (line: string) => void;
}

const seconds = (ms: number) => ms / 1000;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)}`;

/** drain-mixed: one host with ~40 mixed VMs drained by each strategy. */
export async function drainMixed(ctx: ScenarioContext, drain: DrainFleet): Promise<ScenarioResult> {
  const { fleet, source } = drain;
  const lowerBoundMs = lineRateBoundMs(fleet, [source], false);
  const strategies: StrategyFigures[] = [];
  const extra: Record<string, string[]> = {};
  for (const strategy of ctx.strategies) {
    const policy = policyFor(strategy, ctx.basePolicy);
    const run = await drainOnSim({
      fleet,
      sources: [source],
      policy,
      physicalCapGbps: ctx.basePolicy.streamCapGbps,
      seed: ctx.seed,
      maintenance: false,
      avoidRest: false,
      mode: ctx.mode,
    });
    ctx.log(
      `drain-mixed ${strategy.name}: ${seconds(run.makespanMs).toFixed(0)} s simulated in ${run.wallMs.toFixed(0)} ms`,
    );
    const avoidable = avoidableFailures(fleet, run.reports, policy);
    strategies.push({
      ...EMPTY_FIGURES,
      name: strategy.name,
      makespanS: seconds(run.makespanMs),
      lowerBoundS: seconds(lowerBoundMs),
      rateBoundS: seconds(rateBoundMs(fleet, [source], false, policy)),
      ...migrationFigures(run.reports),
      migrationsPerVm: null,
    });
    extra[strategy.name] = [avoidable.length > 0 ? `${avoidable.length} (${avoidable.join(', ')})` : '0'];
  }
  const memory = fleet.instances.filter((i) => i.host === source).reduce((s, i) => s + i.memoryBytes, 0);
  const heavy = fleet.instances.filter((i) => i.host === source && i.dirtyBytesPerS >= 500 * 2 ** 20);
  return {
    name: 'drain-mixed',
    strategies,
    extra: { columns: ['avoidable failures'], rows: extra },
    notes: [
      `${source}: ${fleet.instances.filter((i) => i.host === source).length} VMs, ${(memory / GiB).toFixed(0)} GiB, ${heavy.length} heavy writers (${heavy.map((i) => `${i.name} ${(i.memoryBytes / GiB).toFixed(0)} GiB @ ${mib(i.dirtyBytesPerS)} MiB/s`).join(', ')}); NIC ${((fleet.hosts.find((h) => h.name === source)!.nicBytesPerS * 8) / 1e9).toFixed(0)} Gb/s, stream cap ${ctx.basePolicy.streamCapGbps} Gb/s.`,
      'avoidable failures: failed or aborted migrations of VMs that, alone on their links at the stream cap, converge within the SLO by a means the strategy itself allows.',
      "lower bound: the memory to move / the source's line rate. rate bound (per strategy): also each VM at the fastest rate it could get (alone at the stream cap): its memory, plus what it dirties while that is sent once where the strategy cannot post-copy (pre-copy and pause send those pages again; a post-copy from the first pass sends each page once); the drain takes at least the largest such VM, and at least all of them over the line rate.",
    ],
  };
}

/**
 * campaign-16: 16 hosts at ~70 % load and one empty spare, maintained one after another. ferry
 * drains in planCampaign's order, each evacuation told to avoid the hosts still to come; the
 * baselines drain in name order with the engine's least-loaded placement.
 */
export async function campaign16(ctx: ScenarioContext): Promise<ScenarioResult> {
  const { fleet, campaign } = campaignFleet(ctx.seed, { hosts: 16, load: 0.7, spare: 1 });
  const lowerBoundMs = lineRateBoundMs(fleet, campaign, true);
  const strategies: StrategyFigures[] = [];
  const extra: Record<string, string[]> = {};
  for (const strategy of ctx.strategies) {
    const policy = policyFor(strategy, ctx.basePolicy);
    const plan =
      strategy.campaign === 'ferry' ? planCampaign(fleet, campaign) : planCampaignNaive(fleet, campaign);
    const order = plan.steps.flatMap((s) => s.hosts);
    const run = await drainOnSim({
      fleet,
      sources: order,
      policy,
      physicalCapGbps: ctx.basePolicy.streamCapGbps,
      seed: ctx.seed,
      maintenance: true,
      avoidRest: strategy.campaign === 'ferry',
      mode: ctx.mode,
    });
    ctx.log(
      `campaign-16 ${strategy.name}: ${seconds(run.makespanMs).toFixed(0)} s simulated in ${run.wallMs.toFixed(0)} ms`,
    );
    strategies.push({
      ...EMPTY_FIGURES,
      name: strategy.name,
      makespanS: seconds(run.makespanMs),
      lowerBoundS: seconds(lowerBoundMs),
      rateBoundS: seconds(rateBoundMs(fleet, campaign, true, policy)),
      ...migrationFigures(run.reports),
    });
    const completed = run.reports.filter((r) => r.outcome === 'completed').length;
    extra[strategy.name] = [plan.migrationsPerVm.toFixed(3), `${completed}/${order.length}`];
  }
  const load =
    fleet.instances.reduce((s, i) => s + i.memoryBytes, 0) /
    fleet.hosts.filter((h) => campaign.includes(h.name)).reduce((s, h) => s + h.memoryBytes, 0);
  return {
    name: 'campaign-16',
    strategies,
    extra: { columns: ['planned migrations / VM', 'hosts maintained'], rows: extra },
    notes: [
      `${campaign.length} hosts of 512 GiB at ${(load * 100).toFixed(0)} % load (${fleet.instances.length} VMs, dirty rates up to 250 MiB/s) and 1 empty spare; 60 s simulated maintenance per host.`,
      "migrations / VM: completed migrations over distinct VMs moved, as executed by the engine; planned: what the strategy's campaign planner (planCampaign / planCampaignNaive) computed up front.",
      "lower bound: each host's memory / line rate, plus maintenance, summed; rate bound: each host's bound with every VM at its fastest rate (see drain-mixed), plus maintenance, summed.",
    ],
  };
}
