import type { Clock } from '../clock.js';
import { ConflictError, InputError, NotFoundError, toFerryError } from '../errors.js';
import {
  type Campaign,
  type CampaignHost,
  type Evacuation,
  type EvacuationState,
  FINAL_CAMPAIGN_STATES,
  FINAL_EVACUATION_STATES,
  type Fleet,
} from '../model.js';
import { planCampaign } from '../planning/campaign.js';
import type { CampaignRequest, CampaignStore, ControlCommand, EngineStore } from '../ports.js';

/**
 * Rolling campaigns as an engine record: hosts drained a step at a time in planCampaign's order
 * (VMs land on hosts already maintained), each step's evacuations started by the engine when
 * the step before ended, never by a chat surface or a progress poller. A step that ends
 * aborted, failed or partial (or cannot start) stops the campaign and says why, unless the
 * campaign was asked to continue.
 *
 * Advancing is idempotent and safe to race: every change is a compare-and-set of the record,
 * a step's evacuation ids are fixed before they are started (`${campaign}-${host}`), and
 * starting one that exists is a no-op, so a process that dies anywhere is replaced by another
 * advancing from the record.
 */

/** What a campaign needs of the evacuation lifecycle. */
export interface CampaignDeps {
  campaigns: CampaignStore;
  evacuations: Pick<EngineStore, 'loadEvacuation'>;
  clock: Clock;
  /** Creates and launches the evacuation `id` at `startsAt`; an existing one with that id is left as it is. */
  startEvacuation(request: StepRequest): Promise<void>;
  /** Pause / resume / abort of one evacuation, as an operator's command. */
  controlEvacuation(id: string, command: ControlCommand, by: string): Promise<void>;
}

export interface StepRequest {
  id: string;
  campaign: string;
  source: string;
  requestedBy: string;
  reason?: string;
  maintenance: boolean;
  startsAt: number;
  /** The hosts later steps drain: VMs go there only when nothing else has room. */
  avoid: string[];
}

/** How an evacuation that ended counts for its campaign. */
const GOOD_OUTCOMES: readonly EvacuationState[] = ['completed'];

export class Campaigns {
  constructor(private readonly deps: CampaignDeps) {}

  /** Plans the order, stores the campaign under a fresh id from `base`, and starts its first step at `startsAt`. */
  async start(base: string, request: CampaignRequest, fleet: Fleet, startsAt: number): Promise<Campaign> {
    const unknown = request.hosts.filter((h) => !fleet.hosts.some((f) => f.name === h));
    if (unknown.length > 0)
      throw new NotFoundError(
        `no host named ${unknown.map((h) => `"${h}"`).join(', ')}; /ferry hosts lists them`,
      );
    if (new Set(request.hosts).size !== request.hosts.length)
      throw new InputError('a campaign names each host once');
    const parallel = request.parallel ?? 1;
    const given = request.order === 'given';
    const steps = given
      ? chunks(request.hosts, parallel)
      : planCampaign(fleet, request.hosts, { parallel }).steps.map((s) => s.hosts);
    const now = this.deps.clock.now();
    for (let n = 1; ; n++) {
      const campaign: Campaign = {
        id: n === 1 ? base : `${base}-${n}`,
        requestedBy: request.requestedBy,
        reason: request.reason,
        maintenance: request.maintenance,
        parallel,
        continueOnPartial: request.continueOnPartial ?? false,
        state: 'running',
        steps: steps.map((hosts) => ({ hosts: hosts.map((host) => ({ host })) })),
        avoidLater: !given,
        current: -1,
        startsAt,
        createdAt: now,
        version: 1,
      };
      if (await this.deps.campaigns.save(campaign)) {
        await this.advance(campaign.id);
        return this.get(campaign.id);
      }
    }
  }

  async get(id: string): Promise<Campaign> {
    const campaign = await this.deps.campaigns.load(id);
    if (!campaign) throw new NotFoundError(`no campaign with id ${id}; /ferry status lists them`);
    return campaign;
  }

  list(): Promise<Campaign[]> {
    return this.deps.campaigns.list();
  }

  /** An evacuation ended: if it is a campaign's step, the campaign goes on (or stops). */
  async evacuationEnded(evacuation: Evacuation): Promise<void> {
    if (evacuation.request.campaign) await this.advance(evacuation.request.campaign);
  }

  /**
   * Pause: the step running finishes, the next does not start until resume. Resume: goes on.
   * Abort: the running step's evacuations are aborted and nothing more starts.
   */
  async control(id: string, command: ControlCommand, by: string): Promise<Campaign> {
    const campaign = await this.update(id, (c) => {
      if (FINAL_CAMPAIGN_STATES.includes(c.state))
        throw new ConflictError(`${id} has already ended (${c.state})`);
      if (command === 'pause') {
        if (c.state !== 'running')
          throw new ConflictError(`${id} is ${c.state}; only a running campaign can be paused`);
        c.state = 'paused';
      } else if (command === 'resume') {
        if (c.state !== 'paused') throw new ConflictError(`${id} is ${c.state}, not paused`);
        c.state = 'running';
      } else {
        c.state = 'aborted';
        c.stoppedBecause = `aborted by ${by}`;
        c.endedAt = this.deps.clock.now();
      }
    });
    if (command === 'abort') {
      for (const host of campaign.steps[campaign.current]?.hosts ?? []) {
        if (!host.evacuationId || host.outcome) continue;
        await this.deps.controlEvacuation(host.evacuationId, 'abort', by).catch((err: unknown) => {
          // One that has just ended needs no abort.
          if (toFerryError(err).code !== 'CONFLICT') throw err;
        });
      }
    }
    if (command === 'resume') await this.advance(id);
    return this.get(id);
  }

  /**
   * Brings the record up to date with its evacuations and starts the next step when the current
   * one has ended well. Safe to call any number of times, from any process.
   */
  async advance(id: string): Promise<void> {
    for (;;) {
      const campaign = await this.get(id);
      if (FINAL_CAMPAIGN_STATES.includes(campaign.state)) return;
      const next = structuredClone(campaign);
      const step = next.steps[next.current];
      const missing: CampaignHost[] = [];
      for (const host of step?.hosts ?? []) {
        if (!host.evacuationId || host.outcome) continue;
        const evacuation = await this.deps.evacuations.loadEvacuation(host.evacuationId);
        if (!evacuation) missing.push(host);
        else if (FINAL_EVACUATION_STATES.includes(evacuation.state)) {
          host.outcome = evacuation.state;
          if (!GOOD_OUTCOMES.includes(evacuation.state)) host.cause ??= stayedText(evacuation);
        }
      }
      const stepDone = !step || step.hosts.every((h) => h.outcome);
      if (stepDone) this.afterStep(next);
      if (next.state === 'running' && stepDone && next.current + 1 < next.steps.length) {
        next.current++;
        for (const host of next.steps[next.current]!.hosts) host.evacuationId = `${next.id}-${host.host}`;
      }
      const changed = JSON.stringify(next) !== JSON.stringify(campaign);
      if (changed) {
        next.version++;
        if (!(await this.deps.campaigns.save(next))) continue; // someone else advanced it: read again
      }
      // Started after the ids are saved: a crash in between leaves ids whose evacuations are
      // missing, and the next advance starts exactly those.
      const toStart =
        changed && next.current !== campaign.current ? next.steps[next.current]!.hosts : missing;
      if (toStart.length === 0 || next.state === 'aborted') return;
      await this.startStep(next, toStart);
    }
  }

  /** The step has ended: stop on a bad outcome (unless told to go on), or finish after the last. */
  private afterStep(campaign: Campaign): void {
    const step = campaign.steps[campaign.current];
    const bad = step?.hosts.filter((h) => !GOOD_OUTCOMES.includes(h.outcome!)) ?? [];
    const now = this.deps.clock.now();
    if (bad.length > 0 && !campaign.continueOnPartial) {
      campaign.state = 'stopped';
      campaign.stoppedBecause = `stopped after step ${campaign.current + 1}: ${bad
        .map(
          (h) =>
            `${h.host} ${h.evacuationId ? `(${h.evacuationId}) ` : ''}ended ${h.outcome}${h.cause ? `: ${h.cause}` : ''}`,
        )
        .join('; ')}`;
      campaign.endedAt = now;
    } else if (campaign.current + 1 >= campaign.steps.length && campaign.state === 'running') {
      campaign.state = 'completed';
      campaign.endedAt = now;
    }
  }

  /** Starts a step's evacuations; a host that cannot start ends its part of the step with the reason. */
  private async startStep(campaign: Campaign, hosts: CampaignHost[]): Promise<void> {
    const later = campaign.avoidLater
      ? campaign.steps.slice(campaign.current + 1).flatMap((s) => s.hosts.map((h) => h.host))
      : [];
    const startsAt = Math.max(campaign.startsAt, this.deps.clock.now());
    const failed: { host: string; cause: string }[] = [];
    for (const host of hosts) {
      try {
        await this.deps.startEvacuation({
          id: host.evacuationId!,
          campaign: campaign.id,
          source: host.host,
          requestedBy: campaign.requestedBy,
          reason: campaign.reason,
          maintenance: campaign.maintenance,
          startsAt,
          avoid: later,
        });
      } catch (err) {
        failed.push({ host: host.host, cause: toFerryError(err).userMessage });
      }
    }
    if (failed.length === 0) return;
    await this.update(campaign.id, (c) => {
      for (const f of failed) {
        const entry = c.steps[c.current]!.hosts.find((h) => h.host === f.host)!;
        entry.outcome = 'cancelled';
        entry.cause = `could not start: ${f.cause}`;
      }
    });
    await this.advance(campaign.id);
  }

  /** Applies `change` to the stored campaign by compare-and-set, retrying over concurrent saves. */
  private async update(id: string, change: (c: Campaign) => void): Promise<Campaign> {
    for (;;) {
      const next = structuredClone(await this.get(id));
      change(next);
      next.version++;
      if (await this.deps.campaigns.save(next)) return next;
    }
  }
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** What an evacuation that did not complete left behind, in a few words. */
function stayedText(evacuation: Evacuation): string {
  const stayed = evacuation.migrations.filter((m) => m.state !== 'completed');
  const blockers = evacuation.plan.blockers.length;
  const parts = [];
  if (stayed.length > 0)
    parts.push(
      `${stayed.length} VM(s) did not move (${stayed
        .map((m) => m.instance)
        .slice(0, 5)
        .join(', ')})`,
    );
  if (blockers > 0) parts.push(`${blockers} could not be placed`);
  return parts.join(', ') || evacuation.state;
}
