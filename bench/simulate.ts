import { type QuietHorizon, VirtualClock } from '../src/engine/clock.js';
import { createLocalEngine } from '../src/engine/compose.js';
import type { PolicyConfig } from '../src/engine/config.js';
import {
  DEFAULT_MAINTENANCE_MS,
  JITTER_FRACTION,
  SimDriver,
  simMultifd,
} from '../src/engine/drivers/sim/index.js';
import { FINAL_CAMPAIGN_STATES, type Fleet, GBPS } from '../src/engine/model.js';
import { predictMove } from '../src/engine/planning/convergence.js';
import { type PostMortem, postMortem } from '../src/engine/report.js';
import { quietHorizon } from './quiet.js';

/**
 * Runs evacuations through the real engine (service, runner, policy, planner) against the
 * simulator on a virtual clock: hours of simulated time in seconds of wall time. Every approval
 * request is answered 'approved' at once by a bench approver, and counted from the events.
 */

/** Simulated time starts here in every run, so runs are reproducible. */
const EPOCH = Date.UTC(2026, 0, 5, 2, 0);
const REQUESTER = 'U_BENCH_OPERATOR';
const APPROVER = 'U_BENCH_APPROVER';

/**
 * How simulated time goes by: 'events' skips the polls that would find nothing to act on
 * (bench/quiet.ts), 'stepper' wakes every poll, every sample interval, as a real deployment does.
 */
export type SimMode = 'events' | 'stepper';

export interface SimRun {
  reports: PostMortem[];
  /** First drain's start to the last one's end (maintenance included), ms of simulated time. */
  makespanMs: number;
  /** Wall time the run took, ms. */
  wallMs: number;
}

function engine(fleet: Fleet, policy: PolicyConfig, physicalCapGbps: number, seed: number, mode: SimMode) {
  // The horizon reads the engine's store, which needs the clock first: bound below.
  let horizon: QuietHorizon | undefined;
  const clock = new VirtualClock(
    EPOCH,
    mode === 'events'
      ? { pollMs: policy.sampleIntervalS * 1000, until: (now, limit) => horizon!.until(now, limit) }
      : undefined,
  );
  const driver = new SimDriver({
    fleet,
    clock,
    // The stream cap is physics (QEMU's thread, the NICs' offload), the same whatever the strategy.
    streamCapBytesPerS: physicalCapGbps * GBPS,
    // So are multifd's channel cap and CPU cost (no strategy overrides them).
    multifd: simMultifd(policy),
    seed,
  });
  const config = { policy, windows: [], timezone: 'UTC', maintenance: { reenable: true, timeoutS: 1800 } };
  const engine = createLocalEngine({
    config,
    driver,
    clock,
    answer: { outcome: 'approved', by: APPROVER },
    via: 'bench',
  });
  horizon = quietHorizon({ store: engine.store, driver, policy });
  return { clock, ...engine };
}

/**
 * Drains `sources` one after another through the engine's campaign API: planCampaign's order,
 * each drain told to avoid the hosts still to come (`avoidRest`), or the order given with no
 * such care (the baselines). With `maintenance`, each drained host is maintained and
 * re-enabled (60 s simulated) before the next starts. A bad step does not stop the run: every
 * strategy drains every host, so their figures compare.
 */
export async function drainOnSim(options: {
  fleet: Fleet;
  sources: readonly string[];
  policy: PolicyConfig;
  physicalCapGbps: number;
  seed: number;
  maintenance: boolean;
  avoidRest: boolean;
  /** Default 'events'. */
  mode?: SimMode;
}): Promise<SimRun> {
  const wall = performance.now();
  const { clock, service, store } = engine(
    options.fleet,
    options.policy,
    options.physicalCapGbps,
    options.seed,
    options.mode ?? 'events',
  );
  const start = clock.now();
  // The same path as a Confirm click: preview, then confirm exactly that.
  const issued = await service.preview({
    hosts: [...options.sources],
    campaign: { order: options.avoidRest ? 'planned' : 'given', continueOnPartial: true },
    requestedBy: REQUESTER,
    reason: 'bench',
    maintenance: options.maintenance,
  });
  const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, REQUESTER);
  let campaign = await service.campaignStatus(id);
  while (!FINAL_CAMPAIGN_STATES.includes(campaign.state)) {
    // One poll of the sample interval, like the runners': the event-driven mode skips it alike.
    await clock.sleep(options.policy.sampleIntervalS * 1000);
    campaign = await service.campaignStatus(campaign.id);
  }
  const ended = campaign.endedAt ?? clock.now();
  const reports: PostMortem[] = [];
  for (const host of campaign.steps.flatMap((s) => s.hosts))
    if (host.evacuationId) reports.push(postMortem(await store.events(host.evacuationId)));
  return { reports, makespanMs: ended - start, wallMs: performance.now() - wall };
}

/** Memory to move / the source's line rate, summed over the sources (each drained alone), ms. */
export function lineRateBoundMs(fleet: Fleet, sources: readonly string[], maintenance: boolean): number {
  let ms = 0;
  for (const source of sources) {
    const host = fleet.hosts.find((h) => h.name === source)!;
    const memory = fleet.instances
      .filter((i) => i.host === source && i.migratable)
      .reduce((sum, i) => sum + i.memoryBytes, 0);
    ms += (memory / host.nicBytesPerS) * 1000;
    if (maintenance) ms += DEFAULT_MAINTENANCE_MS;
  }
  return ms;
}

/**
 * A bound that also counts each VM at the fastest rate it could get: alone on its links at the
 * stream cap (or the source's NIC, if slower), a VM sends its memory once, plus, where the
 * strategy cannot post-copy, what it dirties meanwhile (at the low end of the jitter; never more
 * than its memory): pre-copy and pause send those pages again, while a post-copy started as
 * pages begin to flow sends each page once. A drain takes at least its largest VM's volume at
 * that rate, and at least every VM's volume over the source's line rate. Summed over the sources
 * (each drained alone), ms.
 */
export function rateBoundMs(
  fleet: Fleet,
  sources: readonly string[],
  maintenance: boolean,
  policy: Pick<PolicyConfig, 'streamCapGbps' | 'allowPostCopy'>,
): number {
  let ms = 0;
  for (const source of sources) {
    const host = fleet.hosts.find((h) => h.name === source)!;
    const fastest = Math.min(policy.streamCapGbps * GBPS, host.nicBytesPerS);
    let total = 0;
    let longest = 0;
    for (const i of fleet.instances) {
      if (i.host !== source || !i.migratable) continue;
      const dirtied = policy.allowPostCopy
        ? 0
        : Math.min(1, (i.dirtyBytesPerS * (1 - JITTER_FRACTION)) / fastest) * i.memoryBytes;
      const volume = i.memoryBytes + dirtied;
      total += volume;
      longest = Math.max(longest, volume / fastest);
    }
    ms += Math.max(total / host.nicBytesPerS, longest) * 1000;
    if (maintenance) ms += DEFAULT_MAINTENANCE_MS;
  }
  return ms;
}

/**
 * Failed or aborted migrations that a converging schedule could have avoided: the VM, alone on
 * its links at the stream cap, converges within its SLO with what the strategy itself allows
 * (pre-copy; auto-converge, post-copy or pause where allowed).
 */
export function avoidableFailures(
  fleet: Fleet,
  reports: readonly PostMortem[],
  policy: PolicyConfig,
): string[] {
  const instances = new Map(fleet.instances.map((i) => [i.name, i]));
  const nic = new Map(fleet.hosts.map((h) => [h.name, h.nicBytesPerS]));
  const out: string[] = [];
  for (const m of reports.flatMap((r) => r.migrations)) {
    if (m.state !== 'failed' && m.state !== 'aborted') continue;
    const inst = instances.get(m.instance);
    if (!inst) continue;
    const alone = Math.min(
      policy.streamCapGbps * GBPS,
      nic.get(m.from) ?? Number.POSITIVE_INFINITY,
      nic.get(m.to) ?? Number.POSITIVE_INFINITY,
    );
    const prediction = predictMove(
      {
        memoryBytes: inst.memoryBytes,
        dirtyBytesPerS: inst.dirtyBytesPerS,
        bandwidthBytesPerS: alone,
        downtimeSloMs: inst.downtimeSloMs ?? policy.downtimeSloMs,
      },
      policy,
    );
    if (prediction.converges) out.push(m.instance);
  }
  return out;
}
