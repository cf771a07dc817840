import { randomBytes } from 'node:crypto';
import { TZDate } from '@date-fns/tz';
import { format } from 'date-fns';
import { Campaigns, type StepRequest } from './campaign/campaigns.js';
import type { Clock } from './clock.js';
import type { CoreConfig } from './config.js';
import type { Driver } from './drivers/driver.js';
import {
  ConflictError,
  ForbiddenError,
  InputError,
  NotFoundError,
  PlanRefusedError,
  toFerryError,
} from './errors.js';
import { askedEarly, earlyRequests } from './evacuation/early.js';
import { noRecovery } from './evacuation/watch.js';
import {
  type ApprovalDecision,
  type ApprovalOutcome,
  type ApprovalView,
  type Campaign,
  type Evacuation,
  type EvacuationRequest,
  type FerryEvent,
  FINAL_EVACUATION_STATES,
  type Fleet,
  type MaintenanceWindow,
  otherDrains,
  type Plan,
} from './model.js';
import { planEvacuation, planMigration } from './planning/plan.js';
import { fleetFacts } from './planning/revalidate.js';
import { findWindow, nextWindow } from './planning/windows.js';
import type {
  ApprovalStore,
  AuditEntry,
  AuditLog,
  CampaignRequest,
  CampaignStore,
  Confirmed,
  ControlChannel,
  ControlCommand,
  EngineStore,
  FerryService,
  IssuedPlan,
  Launcher,
  MaintenanceAnswer,
  PlanRefusal,
  PlanRequest,
  PlanStore,
  PlanTicket,
  PlanUse,
  Schedule,
  ScheduledWindow,
} from './ports.js';
import { formatClock } from './words.js';

/**
 * The engine's one face to the Slack commands and the CLI. It validates what people ask for
 * against the fleet, plans, stores the request (reserving its id and its host in one atomic
 * step) and hands it to a Launcher
 * (in process, or the durable queue). The same class runs over memory or Redis ports.
 */

export interface EngineServiceDeps {
  config: Pick<CoreConfig, 'policy' | 'windows' | 'timezone'>;
  /**
   * Where the fleet is read: the driver, or in a bot without one the fleet the workers publish
   * (which then has no kind and recovers nothing).
   */
  driver: Pick<Driver, 'inventory'> & Partial<Pick<Driver, 'kind' | 'postcopyRecovery' | 'recoverPostcopy'>>;
  store: EngineStore;
  campaigns: CampaignStore;
  /** Previews awaiting Confirm. */
  plans: PlanStore;
  approvals: ApprovalStore;
  control: ControlChannel;
  launcher: Launcher;
  audit: AuditLog;
  clock: Clock;
  /** Where requests come from, for the audit log (`slack`, `cli`). */
  via: string;
  /** How long a preview may be confirmed, engine ms (default PLAN_TTL_MS). */
  planTtlMs?: number;
  /** Plan ids and nonces (default: random); tests inject their own. */
  newSecret?: (bytes: number) => string;
}

/** A decision that did nothing because an earlier one (or the expiry) stands: refused, not an error for the caller. */
class DecisionStandsError extends Error {
  readonly why: string;

  constructor(readonly standing: ApprovalDecision) {
    super('decision stands');
    this.why =
      standing.outcome === 'expired'
        ? 'the request had expired; the VM stayed on its source'
        : `already ${standing.outcome} by ${standing.decidedBy}`;
  }
}

/** A preview is confirmable this long: long enough to read it, short enough that the fleet it assumed is still there. */
export const PLAN_TTL_MS = 15 * 60_000;

export class EngineService implements FerryService {
  private readonly campaignRecords: Campaigns;

  constructor(private readonly deps: EngineServiceDeps) {
    this.campaignRecords = new Campaigns({
      campaigns: deps.campaigns,
      evacuations: deps.store,
      clock: deps.clock,
      startEvacuation: (step) => this.startStep(step),
      controlEvacuation: (id, command, by) => this.control(id, command, by),
    });
  }

  async fleet(): Promise<Fleet> {
    return this.deps.driver.inventory();
  }

  async windows(): Promise<ScheduledWindow[]> {
    const now = this.deps.clock.now();
    return this.deps.config.windows.map((w) => ({ ...w, next: nextWindow(w, now) }));
  }

  async plan(host: string, options: { window?: string } = {}): Promise<Plan> {
    const when: Schedule = options.window ? { kind: 'window', name: options.window } : { kind: 'now' };
    return (await this.draft([host], when))[0]!;
  }

  async preview(request: Omit<PlanRequest, 'when'> & { when?: Schedule }): Promise<IssuedPlan> {
    if (request.hosts.length === 0) throw new InputError('name at least one host');
    if (new Set(request.hosts).size !== request.hosts.length)
      throw new InputError(`a host is named twice: ${request.hosts.join(', ')}`);
    const when = request.when ?? { kind: 'now' };
    const fleet = await this.deps.driver.inventory();
    const now = this.deps.clock.now();
    const plans = await this.draft(request.hosts, when, request.avoid, fleet);
    const secret = this.deps.newSecret ?? ((bytes: number) => randomBytes(bytes).toString('base64url'));
    const issued: IssuedPlan = {
      id: `plan-${secret(9)}`,
      nonce: secret(18),
      issuedTo: request.requestedBy,
      issuedAt: now,
      expiresAt: now + (this.deps.planTtlMs ?? PLAN_TTL_MS),
      request: { ...request, when },
      // The EvacuationPlan's extras (timeline, deferred) are the preview's; what runs is a Plan.
      plans: plans.map(({ deferred: _d, timeline: _t, ...plan }) =>
        withAskEarly(plan, this.deps.config.policy),
      ),
      assumed: fleetFacts(fleet, request.hosts, now),
    };
    await this.deps.plans.issue(issued);
    return issued;
  }

  async confirm(ticket: PlanTicket, by: string): Promise<Confirmed> {
    const issued = await this.claim(ticket, by, 'confirmed');
    const { request } = issued;
    const base = {
      requestedBy: request.requestedBy,
      reason: request.reason,
      maintenance: request.maintenance,
    };
    if (request.campaign || request.hosts.length > 1) {
      const campaign = await this.campaign({
        ...base,
        ...request.campaign,
        hosts: request.hosts,
        when: request.when,
      });
      return { kind: 'campaign', id: campaign.id, startsAt: campaign.startsAt, plan: issued };
    }
    const plan = issued.plans[0]!;
    const now = this.deps.clock.now();
    const { startsAt } = this.when(now, request.when);
    const id = await this.create(
      { base: this.idBase('evac', plan.source, startsAt) },
      (id) => ({
        ...base,
        id,
        source: plan.source,
        window: plan.window,
        avoid: request.avoid,
        planId: issued.id,
      }),
      plan,
      startsAt,
      now,
    );
    return { kind: 'evacuation', id, startsAt, plan: issued };
  }

  async discard(ticket: PlanTicket, by: string): Promise<IssuedPlan> {
    const issued = await this.claim(ticket, by, 'cancelled');
    await this.done(by, 'cancel plan', issued.id, issued.request.hosts.join(','));
    return issued;
  }

  async evacuate(
    request: Omit<EvacuationRequest, 'id' | 'window'> & { when?: Schedule; window?: string },
  ): Promise<{ id: string; startsAt: number }> {
    const { source, window, when, requestedBy, reason, maintenance, avoid } = request;
    const issued = await this.preview({
      requestedBy,
      reason,
      maintenance,
      avoid,
      hosts: [source],
      when: when ?? (window ? { kind: 'window', name: window } : { kind: 'now' }),
    });
    const { id, startsAt } = await this.confirm(
      { planId: issued.id, nonce: issued.nonce },
      request.requestedBy,
    );
    return { id, startsAt };
  }

  async migrate(request: {
    instance: string;
    to?: string;
    requestedBy: string;
    reason?: string;
  }): Promise<{ id: string }> {
    const fleet = await this.deps.driver.inventory();
    const instance = fleet.instances.find((i) => i.name === request.instance);
    if (!instance)
      throw new NotFoundError(`no instance named "${request.instance}"; /ferry hosts lists them`);
    if (request.to) requireHost(fleet, request.to);
    const plan = planMigration(fleet, request.instance, this.deps.config.policy, { to: request.to });
    if (plan.moves.length === 0)
      throw new ConflictError(
        `${request.instance} cannot move: ${plan.blockers.map((b) => b.reason).join('; ') || 'no destination'}`,
      );
    const now = this.deps.clock.now();
    const id = await this.create(
      { base: this.idBase('mig', request.instance, now) },
      (id) => ({
        id,
        source: instance.host,
        requestedBy: request.requestedBy,
        reason: request.reason,
        maintenance: false,
        only: { instance: request.instance, to: request.to },
      }),
      plan,
      now,
      now,
    );
    return { id };
  }

  async campaign(request: CampaignRequest & { when?: Schedule }): Promise<Campaign> {
    const fleet = await this.deps.driver.inventory();
    const now = this.deps.clock.now();
    const { startsAt } = this.when(now, request.when ?? { kind: 'now' });
    const campaign = await this.campaignRecords.start(
      this.idBase('camp', request.hosts[0] ?? 'none', startsAt),
      request,
      fleet,
      startsAt,
    );
    await this.done(request.requestedBy, 'campaign', campaign.id, request.hosts.join(','));
    return campaign;
  }

  campaignStatus(id: string): Promise<Campaign> {
    return this.campaignRecords.get(id);
  }

  campaigns(): Promise<Campaign[]> {
    return this.campaignRecords.list();
  }

  /** An evacuation has ended: its campaign, if any, goes on. The runner calls this on every path. */
  async evacuationEnded(evacuation: Evacuation): Promise<void> {
    await this.campaignRecords.evacuationEnded(evacuation);
  }

  async status(id: string): Promise<Evacuation> {
    const evacuation = await this.deps.store.loadEvacuation(id);
    if (!evacuation)
      throw new NotFoundError(`no evacuation or migration with id ${id}; /ferry status lists them`);
    return evacuation;
  }

  async list(options: { all?: boolean } = {}): Promise<Evacuation[]> {
    return options.all ? this.deps.store.listEvacuations() : this.deps.store.openEvacuations();
  }

  async control(id: string, command: ControlCommand, by: string): Promise<void> {
    await this.attempt(by, command, id, async () => {
      if (await this.deps.campaigns.load(id)) {
        await this.campaignRecords.control(id, command, by);
        return;
      }
      const evacuation = await this.status(id);
      const { state } = evacuation;
      if (FINAL_EVACUATION_STATES.includes(state))
        throw new ConflictError(`${id} has already ended (${state})`);
      if (state === 'planned' || state === 'scheduled') {
        if (command !== 'abort') throw new ConflictError(`${id} has not started yet; only abort cancels it`);
        await this.cancel(evacuation);
        return;
      }
      if (command === 'pause' && state !== 'draining')
        throw new ConflictError(`${id} is ${state}; only a draining evacuation can be paused`);
      if (command === 'resume' && state !== 'paused')
        throw new ConflictError(`${id} is ${state}, not paused`);
      if (state === 'maintenance' || state === 'restoring')
        throw new ConflictError(`${id} is in maintenance; it cannot be ${command}d now`);
      await this.deps.control.set(id, command, by);
    });
  }

  async recoverPostcopy(migrationId: string, by: string): Promise<void> {
    await this.attempt(by, 'recover', migrationId, async () => {
      const record = await this.deps.store.loadMigration(migrationId);
      if (!record)
        throw new NotFoundError(
          `no migration with id ${migrationId}; the stalled post-copy's notice names it (EVACUATION:VM)`,
        );
      const { migration } = record;
      if (
        migration.state !== 'switching-over' ||
        record.watch?.switchedOver !== 'postcopy' ||
        !record.handleRef
      )
        throw new ConflictError(`${migrationId} is ${migration.state}, not in post-copy: nothing to recover`);
      const refusal = await this.recoveryRefusal(migration.evacuationId, migrationId);
      if (refusal) throw new ConflictError(refusal);
      // The runner that owns the migration carries it out at its next step, wherever it runs.
      const attempt = (record.watch.postcopyRecoveries ?? 0) + 1;
      const stands = await this.deps.control.requestRecovery(migrationId, attempt, by);
      if (stands.by !== by)
        throw new ConflictError(
          `${stands.by} asked to recover ${migrationId} already; the runner carries it out at its next step`,
        );
      return `${migration.instance} ${migration.from} → ${migration.to}`;
    });
  }

  /**
   * Why a post-copy recovery cannot be run, or undefined. A bot without a driver does not know
   * the workers' back end: the stall notice, written by the runner with the driver in hand, says.
   */
  private async recoveryRefusal(evacuationId: string, migrationId: string): Promise<string | undefined> {
    const { driver } = this.deps;
    if (driver.kind) return driver.recoverPostcopy ? undefined : noRecovery(driver);
    const stall = (await this.events(evacuationId))
      .filter((e) => e.type === 'migration.postcopy-stalled' && e.migrationId === migrationId)
      .at(-1);
    if (stall?.type === 'migration.postcopy-stalled' && !stall.recoverable)
      return noRecovery({ postcopyRecovery: stall.recovery });
    return undefined;
  }

  async maintenance(id: string, answer: MaintenanceAnswer, by: string): Promise<void> {
    await this.attempt(by, `maintenance ${answer}`, id, async () => {
      const evacuation = await this.status(id);
      const run = evacuation.maintenanceRun;
      if (evacuation.state !== 'maintenance' || run?.outcome !== 'unknown')
        throw new ConflictError(
          `${id} is ${evacuation.state}${run?.outcome ? ` (maintenance ${run.outcome})` : ''}: only a maintenance whose outcome is unknown takes done or retry`,
        );
      await this.deps.control.answerMaintenance(id, run.attempt, answer, by);
      return `attempt ${run.attempt}`;
    });
  }

  async reschedule(id: string, when: Schedule, by: string): Promise<{ startsAt: number }> {
    let startsAt = 0;
    await this.attempt(by, 'reschedule', id, async () => {
      const evacuation = await this.status(id);
      if (evacuation.state !== 'scheduled' && evacuation.state !== 'planned')
        throw new ConflictError(
          `${id} is ${evacuation.state}: only an evacuation that has not started can be rescheduled`,
        );
      const now = this.deps.clock.now();
      const next = this.when(now, when);
      startsAt = next.startsAt;
      await this.deps.launcher.cancel(id);
      await this.deps.store.commit({
        evacuation: {
          ...evacuation,
          state: 'scheduled',
          request: { ...evacuation.request, window: next.window },
        },
        events: [{ evacuationId: id, at: now, type: 'evacuation.scheduled', startsAt }],
      });
      await this.deps.launcher.launch(id, startsAt);
      return new Date(startsAt).toISOString();
    });
    return { startsAt };
  }

  async decide(
    approvalId: string,
    outcome: Exclude<ApprovalOutcome, 'expired'>,
    by: string,
  ): Promise<ApprovalDecision> {
    let standing: ApprovalDecision | undefined;
    // Imperative like every other audited action: what was attempted, done or refused.
    const action = outcome === 'approved' ? 'approve' : 'reject';
    await this.attempt(by, action, approvalId, async () => {
      const request = await this.deps.approvals.get(approvalId);
      if (!request) throw new NotFoundError(`no approval request ${approvalId}`);
      if (request.requestedBy === by)
        throw new ForbiddenError('you requested this migration: a second person must approve or reject it');
      standing = await this.deps.approvals.record({
        approvalId,
        outcome,
        decidedBy: by,
        decidedAt: this.deps.clock.now(),
      });
      // The first decision (or the expiry) stands: a later one did nothing, and says so.
      if (standing.decidedBy !== by || standing.outcome !== outcome) throw new DecisionStandsError(standing);
      return request.instance;
    }).catch((err: unknown) => {
      if (!(err instanceof DecisionStandsError)) throw err;
    });
    return standing!;
  }

  async decideAll(
    evacuationId: string,
    outcome: Exclude<ApprovalOutcome, 'expired'>,
    by: string,
  ): Promise<ApprovalDecision[]> {
    const action = outcome === 'approved' ? 'approve all' : 'reject all';
    let open: ApprovalView[] = [];
    await this.attempt(by, action, evacuationId, async () => {
      open = (await this.approvals(evacuationId)).filter((a) => !a.decision);
      if (open.length === 0)
        throw new ConflictError(`${evacuationId} has no approval request waiting for a decision`);
      // One evacuation, one requester: they may decide none of its requests.
      if (open.some((a) => a.request.requestedBy === by))
        throw new ForbiddenError('you requested this evacuation: a second person must approve or reject it');
      return open.map((a) => a.request.instance).join(', ');
    });
    const decided: ApprovalDecision[] = [];
    for (const { request } of open) {
      // Each one audited on its own, like a click on its own button; one decided meanwhile stands.
      const decision = await this.decide(request.id, outcome, by);
      if (decision.decidedBy === by && decision.outcome === outcome) decided.push(decision);
    }
    return decided;
  }

  async approval(approvalId: string): Promise<ApprovalView | undefined> {
    const request = await this.deps.approvals.get(approvalId);
    if (!request) return undefined;
    return { request, decision: await this.deps.approvals.decision(approvalId) };
  }

  async approvals(evacuationId: string): Promise<ApprovalView[]> {
    const requests = await this.deps.approvals.forEvacuation(evacuationId);
    return Promise.all(
      requests.map(async (request) => ({
        request,
        decision: await this.deps.approvals.decision(request.id),
      })),
    );
  }

  async events(evacuationId: string, after?: number): Promise<FerryEvent[]> {
    return this.deps.store.events(evacuationId, after);
  }

  async settle(): Promise<void> {
    await this.deps.store.settle?.();
  }

  async recordRefusal(attempt: { who: string; action: string; target: string; why: string }): Promise<void> {
    await this.refused(attempt.who, attempt.action, attempt.target, attempt.why);
  }

  async audit(id?: string): Promise<AuditEntry[]> {
    const all = await this.deps.audit.entries();
    if (id === undefined) return all;
    const planId = (await this.deps.store.loadEvacuation(id))?.request.planId;
    // A migration's and an approval's ids start with their evacuation's: `evac-…:db-01:approval-1`.
    return all.filter((e) => e.target === id || e.target.startsWith(`${id}:`) || e.target === planId);
  }

  /**
   * Plans draining each of `hosts` from `when` on the fleet as it is (read now unless given),
   * keeping off hosts other open evacuations drain. Acts on nothing.
   */
  private async draft(
    hosts: readonly string[],
    when: Schedule,
    avoid: readonly string[] = [],
    fleet?: Fleet,
  ) {
    const seen = fleet ?? (await this.deps.driver.inventory());
    for (const host of hosts) requireHost(seen, host);
    const { startsAt, window } = this.when(this.deps.clock.now(), when);
    const { draining, later } = otherDrains(await this.deps.store.openEvacuations());
    return hosts.map((host) =>
      planEvacuation(seen, host, this.deps.config.policy, {
        now: startsAt,
        window,
        avoid: [...avoid, ...later],
        draining,
      }),
    );
  }

  /** Uses `ticket` once for `use`, or refuses it (audited) with what went wrong. */
  private async claim(ticket: PlanTicket, by: string, use: PlanUse): Promise<IssuedPlan> {
    const claimed = await this.deps.plans.claim(ticket, by, this.deps.clock.now(), use);
    if (claimed.ok) return claimed.plan;
    const why = this.refusalText(claimed);
    await this.refused(by, use === 'confirmed' ? 'confirm' : 'cancel plan', ticket.planId, why);
    throw new PlanRefusedError(claimed, `${why}; nothing was done`);
  }

  private refusalText(refusal: PlanRefusal): string {
    const zone = this.deps.config.timezone;
    switch (refusal.why) {
      case 'unknown':
        return 'ferry issued no such plan (or it was discarded long ago)';
      case 'nonce':
        return 'this button does not carry the nonce ferry issued with the plan';
      case 'user':
        return `this plan was issued to ${refusal.issuedTo}; only they may confirm or cancel it`;
      case 'expired':
        return `this plan expired at ${formatClock(refusal.expiresAt, zone)}; ask for a fresh one`;
      case 'used':
        return `this plan was already ${refusal.use} by ${refusal.by} at ${formatClock(refusal.at, zone)}`;
    }
  }

  private window(name: string): MaintenanceWindow {
    return nextWindow(findWindow(this.deps.config.windows, name), this.deps.clock.now());
  }

  /** When to start; `now` is read once by the caller so "now" never turns into "scheduled". */
  private when(now: number, schedule: Schedule): { startsAt: number; window?: MaintenanceWindow } {
    switch (schedule.kind) {
      case 'now':
        return { startsAt: now };
      case 'in':
        return { startsAt: now + schedule.ms };
      case 'at':
        if (schedule.at < now - 60_000)
          throw new InputError('that time has passed; give a time in the future');
        return { startsAt: Math.max(now, schedule.at) };
      case 'window': {
        const window = nextWindow(findWindow(this.deps.config.windows, schedule.name), now);
        return { startsAt: Math.max(now, window.start), window };
      }
    }
  }

  /** Ids people can type: `evac-cmp-042-20261124T0200` in the operator's zone (suffixed `-2`, `-3` if taken). */
  private idBase(prefix: string, subject: string, at: number): string {
    const stamp = format(new TZDate(at, this.deps.config.timezone), "yyyyMMdd'T'HHmm");
    return `${prefix}-${subject}-${stamp}`;
  }

  /**
   * Stores the evacuation under the first free id from `base` (or exactly `base`, for a
   * campaign's step) and takes its host, each try one atomic step in the store: two requests at
   * once never share an id, and the second for a host is told who holds it.
   */
  private async create(
    id: { base: string; exact?: boolean },
    request: (id: string) => EvacuationRequest,
    plan: Plan,
    startsAt: number,
    now: number,
  ): Promise<string> {
    const scheduled = startsAt > now;
    for (let n = 1; ; n++) {
      const candidate = n === 1 ? id.base : `${id.base}-${n}`;
      const evacuation: Evacuation = {
        request: request(candidate),
        state: scheduled ? 'scheduled' : 'planned',
        plan,
        migrations: [],
      };
      const events: FerryEvent[] = scheduled
        ? [{ evacuationId: candidate, at: now, type: 'evacuation.scheduled', startsAt }]
        : [];
      const result = await this.deps.store.create(evacuation, events);
      if (!result.created && 'taken' in result) {
        if (!id.exact) continue;
        // A campaign step started before (by a process that may have died before launching it):
        // launching again is a no-op for a launched one.
        const existing = await this.deps.store.loadEvacuation(candidate);
        if (existing && (existing.state === 'planned' || existing.state === 'scheduled'))
          await this.deps.launcher.launch(candidate, startsAt);
        return candidate;
      }
      if (!result.created) throw await this.heldBy(evacuation.request.source, result.holder);
      const { requestedBy, only, reason } = evacuation.request;
      await this.done(requestedBy, only ? 'migrate' : 'evacuate', candidate, reason);
      // Before the launch, so the runner finds them at its start; lost in a crash here, the
      // moves simply take the live path.
      await this.askEarly(evacuation.request, plan, now);
      await this.deps.launcher.launch(candidate, startsAt);
      return candidate;
    }
  }

  /** A campaign's step: one host's evacuation under the id the campaign fixed for it. */
  private async startStep(step: StepRequest): Promise<void> {
    const fleet = await this.deps.driver.inventory();
    requireHost(fleet, step.source);
    const { draining, later } = otherDrains(await this.deps.store.openEvacuations(), step.id);
    const plan = planEvacuation(fleet, step.source, this.deps.config.policy, {
      now: step.startsAt,
      avoid: [...(step.avoid ?? []), ...later],
      draining,
    });
    await this.create(
      { base: step.id, exact: true },
      (id) => ({
        id,
        source: step.source,
        requestedBy: step.requestedBy,
        reason: step.reason,
        maintenance: step.maintenance,
        avoid: step.avoid,
        campaign: step.campaign,
      }),
      plan,
      step.startsAt,
      this.deps.clock.now(),
    );
  }

  /** Puts the moves predicted to need post-copy or pause to approvers, as one batch for the evacuation. */
  private async askEarly(request: EvacuationRequest, plan: Plan, now: number): Promise<void> {
    const asked = earlyRequests(request, plan, this.deps.config.policy, now);
    if (asked.length === 0) return;
    for (const approval of asked) await this.deps.approvals.request(approval);
    await this.deps.store.commit({
      events: asked.map((approval) => ({
        evacuationId: request.id,
        at: now,
        type: 'approval.requested',
        approval,
      })),
    });
    await this.done(
      request.requestedBy,
      'ask early',
      request.id,
      asked.map((a) => `${a.instance} ${a.kind}`).join(', '),
    );
  }

  /** Pre-approvals of an evacuation that ends before it started lapse with it (the runner does this for the rest). */
  private async lapseEarly(evacuationId: string, now: number): Promise<FerryEvent[]> {
    const events: FerryEvent[] = [];
    for (const { request, decision } of await this.approvals(evacuationId)) {
      if (request.stage !== 'early' || decision) continue;
      const lapsed = await this.deps.approvals.expire(request.id, now);
      events.push({
        evacuationId,
        at: now,
        type: 'approval.decided',
        decision: lapsed,
        instance: request.instance,
      });
    }
    return events;
  }

  /** The refusal a second requester gets: who holds the host, and what to do. */
  private async heldBy(host: string, holder: string): Promise<ConflictError> {
    const by = (await this.deps.store.loadEvacuation(holder))?.request.requestedBy;
    return new ConflictError(
      `${host} is already being evacuated by ${holder}${by ? ` (requested by ${by})` : ''}; see /ferry status ${holder}, or abort it first`,
    );
  }

  private async cancel(evacuation: Evacuation): Promise<void> {
    const { request } = evacuation;
    await this.deps.launcher.cancel(request.id);
    const now = this.deps.clock.now();
    await this.deps.store.commit({
      evacuation: { ...evacuation, state: 'cancelled', endedAt: now },
      events: [
        ...(await this.lapseEarly(request.id, now)),
        { evacuationId: request.id, at: now, type: 'evacuation.finished', state: 'cancelled', stayed: [] },
      ],
    });
    await this.evacuationEnded((await this.deps.store.loadEvacuation(request.id)) ?? evacuation);
  }

  /**
   * Runs `who`'s `action` on `target`: audited as done (with the detail `work` returns) once it
   * succeeded, or as refused, with the reason, when it threw; never as done before it was.
   */
  private async attempt(
    who: string,
    action: string,
    target: string,
    work: () => Promise<string | undefined>,
  ): Promise<void> {
    let detail: string | undefined;
    try {
      detail = (await work()) ?? undefined;
    } catch (err) {
      const why = err instanceof DecisionStandsError ? err.why : toFerryError(err).userMessage;
      await this.refused(who, action, target, why);
      throw err;
    }
    await this.done(who, action, target, detail);
  }

  /** An attempt that was refused: audited as refused, with why, never as done. */
  private refused(who: string, action: string, target: string, why: string): Promise<void> {
    return this.record({ who, action, target, refused: why });
  }

  private done(who: string, action: string, target: string, detail?: string): Promise<void> {
    return this.record({ who, action, target, detail });
  }

  private async record(entry: Omit<AuditEntry, 'at' | 'via'>): Promise<void> {
    await this.deps.audit.append({ ...entry, at: this.deps.clock.now(), via: this.deps.via });
  }
}

/** The plan as previewed: with the instances whose switchover is asked when it is confirmed. */
function withAskEarly(plan: Plan, policy: CoreConfig['policy']): Plan {
  const asked = askedEarly(plan, policy);
  return asked.length > 0 ? { ...plan, askEarly: asked } : plan;
}

function requireHost(fleet: Fleet, host: string): void {
  const down = fleet.unreachable?.find((u) => u.kind === 'host' && u.name === host);
  if (down) throw new ConflictError(`${host} cannot be drained now: ${down.reason}`);
  if (!fleet.hosts.some((h) => h.name === host))
    throw new NotFoundError(`no host named "${host}"; /ferry hosts lists them`);
}
