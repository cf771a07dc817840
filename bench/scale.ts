import { planCampaign, planCampaignNaive } from '../src/engine/planning/campaign.js';
import { planEvacuation } from '../src/engine/planning/plan.js';
import { EMPTY_FIGURES, type GrowthRow, type ScenarioResult, type StrategyFigures } from './figures.js';
import { scaleFleet } from './fleets.js';
import { fullGc, type Measurement, measure } from './measure.js';
import type { ScenarioContext } from './scenarios.js';
import { policyFor, type Strategy } from './strategies.js';

/**
 * The planning-only scenarios: a drain and a whole-fleet campaign planned on a generated region
 * (`scaleFleet`), each strategy's planner timed cold, with its peak V8 heap. scale-1000 plans
 * 1,000 hosts; scale-10000 plans 10,000 hosts and 400,000 VMs, and also ferry's planner on 1,000
 * and 4,000 hosts of the same kind, to show how the cost grows with the fleet.
 */

const VMS_PER_HOST = 40;
const GROWTH_HOSTS = [1000, 4000];

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)}`;

interface Planned {
  drain: Measurement<unknown>;
  campaign: Measurement<{ migrationsPerVm: number }>;
}

/** One strategy's drain of the first host and campaign over every host, each measured cold. */
function plan(ctx: ScenarioContext, strategy: Strategy, fleet: ReturnType<typeof scaleFleet>): Planned {
  const hosts = fleet.hosts.map((h) => h.name);
  const policy = policyFor(strategy, ctx.basePolicy);
  const drain = measure(() => planEvacuation(fleet, hosts[0]!, policy, { now: 0 }));
  const campaign = measure(() =>
    strategy.campaign === 'ferry' ? planCampaign(fleet, hosts) : planCampaignNaive(fleet, hosts),
  );
  return { drain, campaign };
}

function growthRow(fleet: ReturnType<typeof scaleFleet>, { drain, campaign }: Planned): GrowthRow {
  return {
    hosts: fleet.hosts.length,
    vms: fleet.instances.length,
    drainMs: drain.ms,
    drainCpuMs: drain.cpuMs,
    drainPeakHeapMiB: drain.peakBytes / MiB,
    campaignMs: campaign.ms,
    campaignCpuMs: campaign.cpuMs,
    campaignPeakHeapMiB: campaign.peakBytes / MiB,
  };
}

/** scale-1000 or scale-10000 (see the module comment). */
export async function planningAtScale(
  ctx: ScenarioContext,
  hostCount: 1000 | 10000,
): Promise<ScenarioResult> {
  const name = hostCount === 1000 ? 'scale-1000' : 'scale-10000';
  const growth: GrowthRow[] = [];
  const ferry = ctx.strategies.find((s) => s.campaign === 'ferry');
  if (hostCount === 10000 && ferry)
    for (const hosts of GROWTH_HOSTS) {
      const fleet = scaleFleet(ctx.seed, { hosts, vmsPerHost: VMS_PER_HOST });
      growth.push(growthRow(fleet, plan(ctx, ferry, fleet)));
      ctx.log(`${name} growth: ${hosts} hosts planned`);
    }
  // The smaller fleets are garbage now: collected before the big one is built.
  fullGc();
  const fleet = scaleFleet(ctx.seed, { hosts: hostCount, vmsPerHost: VMS_PER_HOST });
  const source = fleet.hosts[0]!.name;
  const strategies: StrategyFigures[] = [];
  const extra: Record<string, string[]> = {};
  for (const strategy of ctx.strategies) {
    const planned = plan(ctx, strategy, fleet);
    const { drain, campaign } = planned;
    if (hostCount === 10000 && strategy === ferry) growth.push(growthRow(fleet, planned));
    ctx.log(
      `${name} ${strategy.name}: drain ${drain.ms.toFixed(0)} ms, campaign ${campaign.ms.toFixed(0)} ms`,
    );
    strategies.push({
      ...EMPTY_FIGURES,
      name: strategy.name,
      migrationsPerVm: campaign.value.migrationsPerVm,
      planMs: campaign.ms,
    });
    extra[strategy.name] = [
      `${campaign.cpuMs.toFixed(0)}`,
      `${drain.ms.toFixed(0)} (${drain.cpuMs.toFixed(0)})`,
      `${mib(drain.peakBytes)} / ${mib(campaign.peakBytes)}`,
      `${mib(campaign.baseBytes)}`,
      mib(campaign.maxRssBytes),
    ];
  }
  const grouped = fleet.instances.filter((i) => i.antiAffinityGroup !== undefined).length;
  return {
    name,
    strategies,
    extra: {
      columns: [
        'plan CPU ms',
        'drain plan ms (CPU ms)',
        'peak heap MiB (drain / campaign)',
        'heap before MiB',
        'process max RSS MiB',
      ],
      rows: extra,
    },
    ...(growth.length > 0 && { growth }),
    notes: [
      `${fleet.hosts.length} hosts (2 CPU models × 2 AZs), ${fleet.instances.length} VMs (${grouped} in anti-affinity groups of 2-5); the drain plans ${source}, the campaign covers every host.`,
      "plan ms: the campaign planner (planCampaign for ferry, planCampaignNaive for the baselines), one cold call after a full GC, performance.now() around it; CPU ms: the process's user + system time over the same call (on a loaded machine wall time also counts other processes' turns); migrations / VM: what that plan computes.",
      'peak heap: V8 heap high-water mark during the call (v8.GCProfiler: used size before each GC it ran, and at return), absolute — the fleet and the runtime included; heap before: live heap after a full GC; max RSS: the whole process since it started (getrusage), an upper bound.',
      ...(growth.length > 0
        ? [
            "growth: ferry's planner on fleets of the same kind and seed, 40 VMs per host; the drain plans the first host.",
          ]
        : []),
    ],
  };
}
