import type { PolicyConfig } from '../src/engine/config.js';

/**
 * The strategies the bench compares, each as policy overrides run by the same engine on the same
 * simulated fleet. Only the decisions differ (admission, ceilings, timeouts, ramp, what may be
 * done to a guest that does not converge); the physics (NICs, the per-stream cap, dirty rates)
 * stay those of the fleet and of the base policy.
 *
 * Where an anchor's real behaviour cannot be expressed exactly in ferry's policy, the bench errs
 * in the baseline's favour and says so below.
 */

export type StrategyName = 'ferry' | 'nova' | 'kubevirt' | 'all-at-once';

export interface Strategy {
  name: StrategyName;
  /** What it models, for the table's legend and the README. */
  models: string;
  /** Applied over the base policy (the config's, or ferry's defaults). */
  overrides: Partial<PolicyConfig>;
  /** Rolling campaigns: planCampaign's order with `avoid` (ferry), or hosts in order, least-loaded placement. */
  campaign: 'ferry' | 'naive';
}

/** A ceiling nobody reaches: the anchors have no limit there. */
const UNLIMITED = 100_000;
/** Nova removed its progress timeout (false aborts); "never" in ferry's terms is a very long stall timeout. */
const NEVER_S = 10 * 365 * 24 * 3600;

/**
 * Nova's libvirt driver defaults: max_concurrent_live_migrations = 1 (per compute host, the
 * source runs it), live_migration_completion_timeout = 800 s/GiB with
 * live_migration_timeout_action = abort, live_migration_downtime 500 ms reached in
 * live_migration_downtime_steps = 10 from 50 ms, no progress timeout (removed), auto-converge and
 * post-copy off (live_migration_permit_*), no force-complete without an operator.
 * Nova waits live_migration_downtime_delay = 75 s × GiB between ramp steps; ferry's policy has
 * one fixed step (5 s), which reaches 500 ms sooner than Nova would: in Nova's favour.
 */
const NOVA: Partial<PolicyConfig> = {
  admission: 'fixed',
  maxPerSource: 1,
  maxPerDestination: UNLIMITED,
  maxGlobal: UNLIMITED,
  completionTimeoutSPerGiB: 800,
  stallTimeoutS: NEVER_S,
  downtimeSloMs: 500,
  downtimeRampStartMs: 50,
  downtimeRampSteps: 10,
  allowAutoConverge: false,
  allowPostCopy: false,
  allowPause: false,
  // One stream per migration, as Nova's libvirt driver sends by default.
  multifdChannels: 1,
};

export const STRATEGIES: readonly Strategy[] = [
  {
    name: 'ferry',
    models:
      "ferry's defaults: bandwidth-aware admission (up to 4 per source), downtime ramp to the SLO, auto-converge without asking, post-copy or pause proposed to an approver, asked early (the bench approves every request and counts them); a pre-approved post-copy switches over as its pages start to flow, and a pre-copy that would send more than twice its memory is asked for post-copy too",
    overrides: {},
    campaign: 'ferry',
  },
  {
    name: 'nova',
    models:
      'OpenStack Nova (libvirt): 1 migration per source, FIFO; 50..500 ms downtime ramp in 10 steps; abort after 800 s/GiB; no progress timeout; no auto-converge, post-copy or pause',
    overrides: NOVA,
    campaign: 'naive',
  },
  {
    name: 'kubevirt',
    models:
      'KubeVirt: 2 outbound migrations per node, 5 per cluster, FIFO; QEMU default 300 ms downtime, no ramp; abort after 150 s/GiB or 150 s without progress; no auto-converge, post-copy or pause',
    overrides: {
      admission: 'fixed',
      maxPerSource: 2,
      maxPerDestination: UNLIMITED,
      maxGlobal: 5,
      completionTimeoutSPerGiB: 150,
      stallTimeoutS: 150,
      downtimeSloMs: 300,
      downtimeRampStartMs: 300,
      downtimeRampSteps: 1,
      allowAutoConverge: false,
      allowPostCopy: false,
      allowPause: false,
      multifdChannels: 1,
    },
    campaign: 'naive',
  },
  {
    name: 'all-at-once',
    models:
      "`nova host-evacuate-live` with a high max_concurrent_live_migrations: every VM started together, each with Nova's other defaults",
    overrides: { ...NOVA, maxPerSource: UNLIMITED },
    campaign: 'naive',
  },
];

/** The policy a strategy runs with: the base (physics and operator settings) with its overrides. */
export function policyFor(strategy: Strategy, base: PolicyConfig): PolicyConfig {
  return { ...base, ...strategy.overrides };
}

/** Strategies by name, in table order; throws naming the known ones. */
export function selectStrategies(names?: readonly string[]): Strategy[] {
  if (!names || names.length === 0) return [...STRATEGIES];
  return names.map((name) => {
    const found = STRATEGIES.find((s) => s.name === name);
    if (!found)
      throw new Error(
        `unknown strategy "${name}"; expected one of ${STRATEGIES.map((s) => s.name).join(', ')}`,
      );
    return found;
  });
}
