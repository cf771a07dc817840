/**
 * The seams between the engine's core (runner, policy) and what hosts it: an in-memory store for
 * the CLI and the simulator, Redis + BullMQ for the durable bot. The core sees only these.
 */
import type {
  ApprovalDecision,
  ApprovalOutcome,
  ApprovalRequest,
  ApprovalView,
  Campaign,
  Evacuation,
  EvacuationRequest,
  FerryEvent,
  Fleet,
  MaintenanceWindow,
  Migration,
  Move,
  Plan,
  SwitchoverKind,
} from './model.js';

/** Per-migration memory of the policy: enough to resume watching after a crash. */
export interface WatchState {
  startedAt: number;
  /** Index into the downtime ramp (0 = start value). */
  rampStep: number;
  lastRampAt: number;
  downtimeLimitMs: number;
  autoConverge: boolean;
  /** When the policy switched auto-converge on: it gets one stall period to work before escalating. */
  autoConvergeAt?: number;
  /** Lowest remaining-bytes at a pass start (or during the first pass) and when: stall detection. */
  bestRemainingBytes: number;
  bestRemainingAt: number;
  /** The pre-copy pass last seen: a higher one in a sample marks a pass start. */
  lastIteration?: number;
  /** Highest auto-converge throttle seen, percent: a rise counts as progress. */
  lastThrottlePct?: number;
  /** How many approvals this migration has asked for (deterministic approval ids). */
  approvalsAsked: number;
  escalation?: { approvalId: string; kind: SwitchoverKind; requestedAt: number; expiresAt: number };
  switchedOver?: SwitchoverKind;
  /** The pre-approval was weighed (used, or found not to cover the live facts): it is not looked at again. */
  preApprovalSpent?: boolean;
  /** Post-copy's progress: its lowest remaining bytes and when, and when a stall was raised. */
  postcopy?: { bestRemainingBytes: number; bestAt: number; alertedAt?: number };
  /** Post-copy recoveries the runner has carried out (or found refused): the next request is number n + 1. */
  postcopyRecoveries?: number;
}

/** A migration as stored: its public record plus the watcher's state. */
export interface MigrationRecord {
  migration: Migration;
  move: Move;
  watch?: WatchState;
  /** Driver handle (JSON of MigrationHandle), once started. */
  handleRef?: string;
  /** When the last `migration.progress` event was written: the stream gets one every few seconds, not every sample. */
  progressEventAt?: number;
  /** How often the move got a new destination after a failed precheck. */
  replacements?: number;
  /**
   * The move's pre-approval (asked when the evacuation was confirmed), copied at the start, and
   * its decision once the runner has read it (and written its `approval.decided` event).
   */
  early?: { request: ApprovalRequest; decision?: ApprovalDecision };
  /** The back end's consecutive "no such migration" answers, since the first (reconcile.ts). */
  lost?: { since: number; answers: number };
}

/**
 * Durable state and the append-only event stream. Implementations make `commit` atomic: the
 * records and the events of one step are stored together or not at all, so a process killed
 * mid-step never leaves a gap or a duplicate in the stream.
 */
export interface EngineStore {
  commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void>;
  /**
   * Stores a new evacuation and its first events in one atomic step, or refuses: `taken` when
   * its id is in use, `holder` when it drains a host (not a single-VM migration) that an open
   * evacuation holds. The host is then held until a commit records this evacuation's end: the
   * lifecycle's record is the lock's one owner, on every path.
   */
  create(evacuation: Evacuation, events: FerryEvent[]): Promise<CreateResult>;
  /** The open evacuation holding a host, if any. */
  holder(host: string): Promise<string | undefined>;
  loadEvacuation(id: string): Promise<Evacuation | undefined>;
  loadMigration(id: string): Promise<MigrationRecord | undefined>;
  /** Several records in one go (a runner step reads all of its evacuation's), in the order asked; missing ones left out. */
  loadMigrations(ids: readonly string[]): Promise<MigrationRecord[]>;
  /** Events of one evacuation in order, from the `after`-th (0-based count) on. */
  events(evacuationId: string, after?: number): Promise<FerryEvent[]>;
  /** Every evacuation still kept (open ones, and ended ones within their retention), newest first. */
  listEvacuations(): Promise<Evacuation[]>;
  /** Evacuations not ended, newest first: read from an index, never by reading every evacuation. */
  openEvacuations(): Promise<Evacuation[]>;
  /**
   * Migrations started and not yet ended, across every evacuation: admission must count every
   * stream on a link and the fleet-wide ceiling, not only its own evacuation's.
   */
  activeMigrations(): Promise<MigrationRecord[]>;
  /**
   * Resolves once what was read so far is durable (a replicated store: on enough replicas, so a
   * failover cannot take it back); throws a retryable error otherwise. Absent: always durable.
   */
  settle?(): Promise<void>;
}

export type CreateResult =
  | { created: true }
  | { created: false; taken: true }
  | { created: false; holder: string };

/** Durable campaign records, written by compare-and-set so that two processes advancing one campaign never both win. */
export interface CampaignStore {
  /**
   * Saves `campaign` if the stored one has version `campaign.version - 1` (version 1: only if no
   * campaign has that id); false when another save came first.
   */
  save(campaign: Campaign): Promise<boolean>;
  load(id: string): Promise<Campaign | undefined>;
  /** Every campaign, newest first. */
  list(): Promise<Campaign[]>;
}

/**
 * A plan ferry showed one person, kept until it is confirmed, cancelled or expires: Confirm
 * carries only its id and nonce, and runs exactly what is stored here.
 */
export interface IssuedPlan {
  id: string;
  /** Single-use secret issued to `issuedTo` with the id: a button ferry did not issue cannot carry it. */
  nonce: string;
  issuedTo: string;
  issuedAt: number;
  expiresAt: number;
  request: PlanRequest;
  /** One plan per host, in the order asked. */
  plans: Plan[];
  /** What the plans assumed about the fleet: the start re-validates every move against fresh inventory. */
  assumed: FleetFacts;
}

/** What a preview is asked for: one host (an evacuation) or several (a campaign). */
export interface PlanRequest {
  hosts: string[];
  when: Schedule;
  requestedBy: string;
  reason?: string;
  maintenance: boolean;
  /** Hosts to keep VMs off unless nothing else fits. */
  avoid?: string[];
  /** A rolling campaign over `hosts` with these options (implied by several hosts); absent: one host's evacuation. */
  campaign?: Pick<CampaignRequest, 'parallel' | 'continueOnPartial' | 'order'>;
}

/** The fleet as a plan saw it: the drained hosts' instances and every host's room and state. */
export interface FleetFacts {
  at: number;
  hosts: { name: string; schedulable: boolean; vcpus: number; memoryBytes: number }[];
  instances: { name: string; host: string; vcpus: number; memoryBytes: number; migratable: boolean }[];
}

/** What a Confirm or Cancel click carries: nothing but these two. */
export interface PlanTicket {
  planId: string;
  nonce: string;
}

/** Why a ticket was refused: each has its own message and audit entry. */
export type PlanRefusal =
  | { why: 'unknown' }
  | { why: 'nonce' }
  | { why: 'user'; issuedTo: string }
  | { why: 'expired'; expiresAt: number }
  | { why: 'used'; use: PlanUse; by: string; at: number };

export type PlanUse = 'confirmed' | 'cancelled';

/** Issued plans, each usable once: claiming checks the nonce, the user and the expiry, and marks it used, in one atomic step. */
export interface PlanStore {
  issue(plan: IssuedPlan): Promise<void>;
  get(id: string): Promise<IssuedPlan | undefined>;
  /** The plan, if `ticket` is its nonce, `by` is who it was issued to, `at` is before its expiry and nobody used it; else why not. */
  claim(
    ticket: PlanTicket,
    by: string,
    at: number,
    use: PlanUse,
  ): Promise<{ ok: true; plan: IssuedPlan } | ({ ok: false } & PlanRefusal)>;
}

/** Human sign-off for risky switchovers. Requests are idempotent by id. */
export interface ApprovalGate {
  request(approval: ApprovalRequest): Promise<void>;
  get(approvalId: string): Promise<ApprovalRequest | undefined>;
  /** Every request of one evacuation (early and live), oldest first. */
  forEvacuation(evacuationId: string): Promise<ApprovalRequest[]>;
  /** The decision, once someone (or expiry) made one. */
  decision(approvalId: string): Promise<ApprovalDecision | undefined>;
  /** Records expiry unless someone decided first; returns the decision that stands. */
  expire(approvalId: string, at: number): Promise<ApprovalDecision>;
}

/** Where approval requests and decisions are kept: the first decision recorded wins. */
export interface ApprovalStore extends ApprovalGate {
  /**
   * Records a decision unless one stands already; returns the one that stands. A decision at or
   * after the request's `expiresAt` is recorded as its expiry, checked in the same atomic step.
   */
  record(decision: ApprovalDecision): Promise<ApprovalDecision>;
}

/** Operator commands for a running evacuation (pause / resume / abort from any replica). */
export type ControlCommand = 'pause' | 'resume' | 'abort';

/** An operator's answer to a maintenance whose outcome is unknown: it was done, or run it again. */
export type MaintenanceAnswer = 'done' | 'retry';

export interface ControlChannel {
  /** The latest command for an evacuation, with who gave it. */
  current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined>;
  set(evacuationId: string, command: ControlCommand, by: string): Promise<void>;
  /** The operator's answer about maintenance attempt `attempt`, if any. */
  maintenanceAnswer(
    evacuationId: string,
    attempt: number,
  ): Promise<{ answer: MaintenanceAnswer; by: string } | undefined>;
  answerMaintenance(
    evacuationId: string,
    attempt: number,
    answer: MaintenanceAnswer,
    by: string,
  ): Promise<void>;
  /** The operator's request for recovery number `attempt` of a post-copy, if any. */
  recoveryRequest(migrationId: string, attempt: number): Promise<{ by: string } | undefined>;
  /**
   * Asks the runner that owns the migration to recover its post-copy (attempt n of it): the
   * first request of an attempt stands; returns who made the one that stands.
   */
  requestRecovery(migrationId: string, attempt: number, by: string): Promise<{ by: string }>;
}

/**
 * Admission one evacuation at a time, across every process: reading the streams on the links,
 * starting moves and committing them is one critical section, or two evacuations admitting at
 * once could each miss the other's starts and overshoot a ceiling.
 */
export interface AdmissionGate {
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** Runs evacuations at their time: in process, or through a durable queue. */
export interface Launcher {
  launch(evacuationId: string, startsAt: number): Promise<void>;
  /** Withdraws a scheduled evacuation that has not started. */
  cancel(evacuationId: string): Promise<void>;
}

/** Who did what, when, from where: every human action, append-only. */
export interface AuditEntry {
  at: number;
  /** Slack user id, or `cli`. */
  who: string;
  action: string;
  target: string;
  /** `slack`, `cli`, ... */
  via: string;
  detail?: string;
  /** Set when the attempt was refused: why. Nothing was done. */
  refused?: string;
}

export interface AuditLog {
  append(entry: AuditEntry): Promise<void>;
  entries(): Promise<AuditEntry[]>;
}

/**
 * The face the Slack commands (and the CLI) talk to. Implemented over Redis + BullMQ for the bot,
 * and in memory for tests and the CLI. Every method validates its input and throws FerryError
 * subclasses with user-facing messages.
 */
export interface FerryService {
  /** A plan preview for draining a host: moves, predictions, blockers. Acts on nothing. */
  plan(host: string, options?: { window?: string }): Promise<Plan>;
  /**
   * Plans draining one host (an evacuation) or several (a campaign) and keeps the plan for
   * `requestedBy` alone to confirm, once, before it expires. Acts on nothing.
   */
  preview(request: Omit<PlanRequest, 'when'> & { when?: Schedule }): Promise<IssuedPlan>;
  /**
   * Runs exactly the stored plan `ticket` names (an evacuation carrying its moves, or the
   * campaign). A nonce ferry did not issue, another user's, an expired or used one is refused,
   * and the refusal audited.
   */
  confirm(ticket: PlanTicket, by: string): Promise<Confirmed>;
  /** Withdraws an issued plan unused; refused like `confirm`. */
  discard(ticket: PlanTicket, by: string): Promise<IssuedPlan>;
  /** Previews and confirms in one go (the CLI, the bench, tests): the same path as a Confirm click. */
  evacuate(
    request: Omit<EvacuationRequest, 'id' | 'window'> & { when?: Schedule; window?: string },
  ): Promise<{ id: string; startsAt: number }>;
  /** A single-VM migration, optionally to a chosen host. */
  migrate(request: {
    instance: string;
    to?: string;
    requestedBy: string;
    reason?: string;
  }): Promise<{ id: string }>;
  /**
   * A rolling campaign: the hosts in planCampaign's order, `parallel` at a time, the first step
   * at `when`, each next one started by the engine when the step before ended well. A step that
   * ended aborted, failed or partial stops it (unless `continueOnPartial`). `control` pauses,
   * resumes or aborts a whole campaign by its id.
   */
  campaign(request: CampaignRequest & { when?: Schedule }): Promise<Campaign>;
  campaignStatus(id: string): Promise<Campaign>;
  /** Every campaign, newest first. */
  campaigns(): Promise<Campaign[]>;
  /** Hosts and instances as the driver sees them now (for `/ferry hosts`). */
  fleet(): Promise<Fleet>;
  /** The configured maintenance windows, each with the occurrence open now or opening next. */
  windows(): Promise<ScheduledWindow[]>;
  status(id: string): Promise<Evacuation>;
  /** Open evacuations, newest first; `all`: every one still kept (ended ones within their retention). */
  list(options?: { all?: boolean }): Promise<Evacuation[]>;
  /** Pause, resume or abort an evacuation, a migration or a whole campaign, by its id. */
  control(id: string, command: ControlCommand, by: string): Promise<void>;
  /**
   * Recovers a post-copy (by its migration id) that stopped making progress, where the driver
   * can (QEMU: migrate-pause, migrate-recover, migrate resume; the simulator);
   * audited, refused with why otherwise. The request goes through the control channel to the
   * runner that owns the migration, which carries it out at its next step and writes a
   * `migration.postcopy-recovery` event; moving again clears the stall.
   */
  recoverPostcopy(migrationId: string, by: string): Promise<void>;
  /**
   * Answers an evacuation whose maintenance outcome is unknown (a worker died while it ran):
   * `done` (an operator checked the host: it was done) or `retry` (run the command again).
   */
  maintenance(id: string, answer: MaintenanceAnswer, by: string): Promise<void>;
  /** Moves a scheduled evacuation that has not started to another time. */
  reschedule(id: string, when: Schedule, by: string): Promise<{ startsAt: number }>;
  /** Records an approver's decision: the first wins; the requester may not approve their own request. */
  decide(
    approvalId: string,
    outcome: Exclude<ApprovalOutcome, 'expired'>,
    by: string,
  ): Promise<ApprovalDecision>;
  /**
   * Decides every undecided request of one evacuation at once (an approval message's "approve
   * all"): each recorded and audited as `decide` would; the requester may not. Returns the
   * decisions that stand for the requests it decided.
   */
  decideAll(
    evacuationId: string,
    outcome: Exclude<ApprovalOutcome, 'expired'>,
    by: string,
  ): Promise<ApprovalDecision[]>;
  approval(approvalId: string): Promise<ApprovalView | undefined>;
  /** Every approval request of one evacuation (early and live, oldest first), each with its decision if made. */
  approvals(evacuationId: string): Promise<ApprovalView[]>;
  events(evacuationId: string, after?: number): Promise<FerryEvent[]>;
  /**
   * Resolves once what was read so far is durable (see EngineStore.settle): the bot shows only
   * states a failover cannot take back. A retryable error when replicas do not confirm in time.
   */
  settle?(): Promise<void>;
  /** Records an attempt refused before it reached the engine (no role, a forged button): who, what, why. */
  recordRefusal(attempt: { who: string; action: string; target: string; why: string }): Promise<void>;
  /**
   * The audit trail in the order it was written: all of it, or what concerns one evacuation,
   * migration or campaign (its approvals and the plan it was confirmed from included).
   */
  audit(id?: string): Promise<AuditEntry[]>;
}

/** A configured maintenance window and its next occurrence (the open one, while it is open). */
export interface ScheduledWindow {
  name: string;
  timezone: string;
  days: string[];
  /** Wall-clock HH:MM in the window's zone. */
  start: string;
  end: string;
  next: MaintenanceWindow;
}

/** What a confirmed plan started. */
export interface Confirmed {
  kind: 'evacuation' | 'campaign';
  id: string;
  startsAt: number;
  plan: IssuedPlan;
}

/** What a campaign is asked to do (FerryService.campaign). */
export interface CampaignRequest {
  hosts: string[];
  /** Hosts drained at once in a step (default 1). */
  parallel?: number;
  /** Go on after a step that ended aborted, failed or partial (default: stop and say why). */
  continueOnPartial?: boolean;
  /**
   * `planned` (default): planCampaign's order, each step's VMs kept off the hosts still to come.
   * `given`: the hosts in the order given and no such care (what a naive script does; the
   * bench's baselines).
   */
  order?: 'planned' | 'given';
  requestedBy: string;
  reason?: string;
  maintenance: boolean;
}

/** When an evacuation should start. */
export type Schedule =
  | { kind: 'now' }
  | { kind: 'at'; at: number }
  | { kind: 'in'; ms: number }
  | { kind: 'window'; name: string };
