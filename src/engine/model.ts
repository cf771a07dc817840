/**
 * ferry's domain types, in one place. Units are fixed across the engine:
 * bytes, bytes per second, milliseconds (durations) and epoch milliseconds (instants).
 */

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
/** Bytes per second in one gigabit per second of line rate. */
export const GBPS = 1e9 / 8;

// ---------------------------------------------------------------------------------------------
// Fleet

export interface Host {
  name: string;
  vcpus: number;
  memoryBytes: number;
  /** Line rate of the migration NIC, bytes/s. */
  nicBytesPerS: number;
  cpuModel?: string;
  az?: string;
  labels: string[];
  /** False while disabled for scheduling (maintenance, draining, broken). */
  schedulable: boolean;
  disabledReason?: string;
}

export interface Instance {
  name: string;
  host: string;
  vcpus: number;
  memoryBytes: number;
  antiAffinityGroup?: string;
  migratable: boolean;
  /** Why the instance cannot be live-migrated (set when migratable is false). */
  notMigratableReason?: string;
  /** Guest page-dirtying rate, bytes/s: measured by a driver, or configured for the simulator. */
  dirtyBytesPerS: number;
  /** Per-instance downtime SLO, overriding the policy's. */
  downtimeSloMs?: number;
  /**
   * Why the back end takes no risky switchover for this instance now (Nova: force_complete
   * needs an ACTIVE server, so a PAUSED one gets none): the policy never asks for one.
   */
  switchoverRefused?: string;
}

/**
 * A host or instance the back end knows exists but cannot describe now (Nova 2.69+: its cell
 * database does not answer). Not in the fleet's hosts or instances; named in plans' blockers.
 */
export interface Unreachable {
  kind: 'host' | 'instance';
  /** The host's name; the instance's name, or its id where the back end gives no name. */
  name: string;
  /** An instance's host when known; absent, it may be on any host. */
  host?: string;
  reason: string;
}

export interface Fleet {
  hosts: Host[];
  instances: Instance[];
  unreachable?: Unreachable[];
}

// ---------------------------------------------------------------------------------------------
// Convergence and plans

/** How a migration finishes: the first two are safe; the last two need a human's approval. */
export type Strategy = 'precopy' | 'auto-converge' | 'postcopy' | 'pause';
export const RISKY_STRATEGIES: readonly Strategy[] = ['postcopy', 'pause'];

/** What the convergence model expects of one migration at a given bandwidth. */
export interface Prediction {
  converges: boolean;
  strategy: Strategy;
  passes: number;
  bytesSent: number;
  durationMs: number;
  downtimeMs: number;
  /** Bandwidth the prediction assumed, bytes/s. */
  bandwidthBytesPerS: number;
  /** Human-readable explanation, e.g. "dirties 900 MiB/s, more than the 625 MiB/s it can get". */
  note?: string;
  /**
   * Set on a move that converges without anyone (pre-copy) but sends more than
   * LINK_HOG_VOLUME times its memory doing so, where post-copy may be proposed: a post-copy from
   * the first pass on sends each page once, saving about this many bytes of the source's link.
   * Such a move is asked early (askEarly); approved, it switches over as its pages start to flow,
   * otherwise it runs as `strategy` says.
   */
  postcopySavesBytes?: number;
}

/** One VM to move: where from, where to, and what the model expects. */
export interface Move {
  instance: string;
  from: string;
  to: string;
  memoryBytes: number;
  dirtyBytesPerS: number;
  downtimeSloMs: number;
  /** From the instance: no risky switchover may be asked for, and why. */
  switchoverRefused?: string;
  prediction: Prediction;
  /**
   * Multifd channels (QEMU multifd, libvirt --parallel): absent or 1 is one migration stream.
   * Never above 1 for a move that may switch to post-copy (QEMU 10 refuses the two together).
   */
  channels?: number;
  /** Why the planner chose these channels (or kept one stream), when multifd is enabled. */
  channelsWhy?: string;
  /** Set when the move would not finish inside the maintenance window. */
  outsideWindow?: boolean;
}

export type BlockerCode =
  | 'not-migratable'
  | 'no-capacity'
  | 'anti-affinity'
  | 'cpu-model'
  | 'availability-zone'
  | 'precheck-failed'
  | 'outside-window'
  | 'migration-failed'
  | 'migration-aborted'
  | 'unreachable';

/** An instance that cannot leave the host, said before anything starts. */
export interface Blocker {
  instance: string;
  code: BlockerCode;
  reason: string;
}

export interface MaintenanceWindow {
  /** Epoch ms. */
  start: number;
  end: number;
  name?: string;
}

export interface Plan {
  source: string;
  moves: Move[];
  blockers: Blocker[];
  /** Memory to move / the source NIC's line rate, ms: no schedule can beat it. */
  lowerBoundMs: number;
  /** The planner's estimate of the whole drain, ms. */
  predictedMakespanMs: number;
  window?: MaintenanceWindow;
  /**
   * Instances whose risky switchover is put to approvers when the plan is confirmed (policy
   * askEarly): the preview lists them. Absent when nothing is asked early.
   */
  askEarly?: string[];
}

/** Whether the planner predicts this move needs a risky switchover that may be asked for (post-copy or pause). */
export function needsSwitchover(move: Move): boolean {
  return RISKY_STRATEGIES.includes(move.prediction.strategy) && move.switchoverRefused === undefined;
}

/** Whether the move would be better post-copied from its start (see Prediction.postcopySavesBytes). */
export function prefersPostcopy(move: Move): boolean {
  return (move.prediction.postcopySavesBytes ?? 0) > 0 && move.switchoverRefused === undefined;
}

// ---------------------------------------------------------------------------------------------
// Progress samples: every driver reports this shape.

export type MigrationStatus =
  | 'setup'
  | 'active'
  | 'postcopy-active'
  | 'device'
  | 'completed'
  | 'failed'
  | 'cancelled';

export interface ProgressSample {
  /** Epoch ms when sampled. */
  at: number;
  status: MigrationStatus;
  totalBytes: number;
  transferredBytes: number;
  remainingBytes: number;
  /** 0 until the driver has measured it (QEMU needs two or three dirty syncs). */
  dirtyBytesPerS: number;
  bandwidthBytesPerS: number;
  /** Pre-copy pass (QEMU's dirty-sync-count). */
  iteration: number;
  expectedDowntimeMs?: number;
  /** Actual downtime, once completed. */
  downtimeMs?: number;
  /** Auto-converge CPU throttle, percent. */
  throttlePct?: number;
  /** True once the guest was paused for the switchover (force-complete). */
  paused?: boolean;
  error?: string;
}

/** Knobs a driver can turn on a running migration. */
export interface Tuning {
  downtimeLimitMs: number;
  /** Per-migration bandwidth cap, bytes/s; undefined means uncapped. */
  maxBandwidthBytesPerS?: number;
  autoConverge: boolean;
  /** Whether post-copy may be switched to later (QEMU needs the capability set before start). */
  postcopyCapable: boolean;
  /**
   * Multifd channels, set at start only (QEMU's `multifd` capability and `multifd-channels`,
   * libvirt's `--parallel-connections`); absent or 1 is one stream. Never with postcopyCapable.
   */
  multifdChannels?: number;
}

// ---------------------------------------------------------------------------------------------
// Migrations and their state machine

export type MigrationState =
  | 'pending'
  | 'running'
  | 'awaiting-approval'
  | 'switching-over'
  | 'aborting'
  | 'completed'
  | 'failed'
  | 'aborted';

export const FINAL_MIGRATION_STATES: readonly MigrationState[] = ['completed', 'failed', 'aborted'];

/** Started and not ended: a stream on the links. */
export function isActiveMigration(state: MigrationState): boolean {
  return state !== 'pending' && !FINAL_MIGRATION_STATES.includes(state);
}

/** Allowed transitions: anything else is a bug in the runner. */
export const MIGRATION_TRANSITIONS: Readonly<Record<MigrationState, readonly MigrationState[]>> = {
  pending: ['running', 'failed', 'aborted'],
  running: ['awaiting-approval', 'switching-over', 'aborting', 'completed', 'failed', 'aborted'],
  'awaiting-approval': ['running', 'switching-over', 'aborting', 'completed', 'failed', 'aborted'],
  'switching-over': ['completed', 'failed', 'aborting', 'aborted'],
  aborting: ['aborted', 'completed', 'failed'],
  completed: [],
  failed: [],
  aborted: [],
};

export interface Migration {
  /** Stable id: `${evacuationId}:${instance}`; also the queue job id and the driver's key. */
  id: string;
  evacuationId: string;
  instance: string;
  from: string;
  to: string;
  state: MigrationState;
  strategy: Strategy;
  memoryBytes: number;
  prediction: Prediction;
  startedAt?: number;
  endedAt?: number;
  downtimeMs?: number;
  bytesSent: number;
  passes: number;
  lastSample?: ProgressSample;
  /** Remaining bytes and bandwidth over time, for the post-mortem's chart (trace.ts). */
  trace?: MigrationTrace;
  /** Why it failed or was aborted, in an operator's words. */
  cause?: string;
  /**
   * Its post-copy has made no progress for the stall timeout (set with the stall notice, cleared
   * once it moves or is recovered): since when, and whether the driver can recover it.
   */
  postcopyStalled?: { since: number; recoverable: boolean };
}

/** Points `[at, remainingBytes, bandwidthBytesPerS]`, at least `stepMs` apart (the last may be closer). */
export interface MigrationTrace {
  stepMs: number;
  points: [number, number, number][];
}

// ---------------------------------------------------------------------------------------------
// Evacuations and their state machine

export type EvacuationState =
  | 'planned'
  | 'scheduled'
  | 'draining'
  | 'paused'
  | 'maintenance'
  | 'restoring'
  | 'completed'
  | 'partial'
  | 'failed'
  | 'aborted'
  | 'cancelled';

export const FINAL_EVACUATION_STATES: readonly EvacuationState[] = [
  'completed',
  'partial',
  'failed',
  'aborted',
  'cancelled',
];

export const EVACUATION_TRANSITIONS: Readonly<Record<EvacuationState, readonly EvacuationState[]>> = {
  planned: ['scheduled', 'draining', 'cancelled'],
  scheduled: ['draining', 'cancelled', 'scheduled'],
  draining: ['paused', 'maintenance', 'completed', 'partial', 'failed', 'aborted'],
  paused: ['draining', 'aborted'],
  maintenance: ['restoring', 'failed'],
  restoring: ['completed', 'partial', 'failed'],
  completed: [],
  partial: [],
  failed: [],
  aborted: [],
  cancelled: [],
};

/** Whether `from -> to` is allowed by a transition table. */
export function canTransition<S extends string>(
  table: Readonly<Record<S, readonly S[]>>,
  from: S,
  to: S,
): boolean {
  return table[from].includes(to);
}

export interface EvacuationRequest {
  /** Stable id, e.g. `evac-cmp-042-20261124T0200`. */
  id: string;
  source: string;
  /** Slack user id (or `cli`) of the requester; never allowed to approve its own request. */
  requestedBy: string;
  reason?: string;
  window?: MaintenanceWindow;
  /** Run the configured maintenance command and re-enable the host after the drain. */
  maintenance: boolean;
  /** Hosts to keep VMs off unless nothing else fits: a campaign's hosts still to be maintained. */
  avoid?: string[];
  /** A single-VM migration: move only this instance (optionally to a chosen host); the source stays enabled. */
  only?: { instance: string; to?: string };
  /** The campaign this evacuation is a step of: its end advances that campaign. */
  campaign?: string;
  /** The issued plan an operator confirmed, when it came from one. */
  planId?: string;
}

export interface Evacuation {
  request: EvacuationRequest;
  state: EvacuationState;
  plan: Plan;
  migrations: Migration[];
  startedAt?: number;
  endedAt?: number;
  /**
   * The maintenance step, marked durably before its command runs: a mark without an outcome
   * found after a takeover means the command may have run, and it is never run again unasked.
   */
  maintenanceRun?: MaintenanceRun;
}

export interface MaintenanceRun {
  /** 1 for the first run, +1 for each retry an operator asked for. */
  attempt: number;
  startedAt: number;
  /** `unknown`: a process died while it ran; the host stays disabled until an operator says. */
  outcome?: 'ok' | 'failed' | 'unknown';
}

/**
 * Hosts other open evacuations drain, for planning `except`: `draining` ones (started) are no
 * destinations; `later` ones (not started) are used only when nothing else has room.
 */
export function otherDrains(
  evacuations: readonly Evacuation[],
  except?: string,
): { draining: string[]; later: string[] } {
  const open = evacuations.filter(
    (e) => e.request.id !== except && holdsHost(e) && !FINAL_EVACUATION_STATES.includes(e.state),
  );
  const notStarted = (e: Evacuation) => e.state === 'planned' || e.state === 'scheduled';
  return {
    draining: open.filter((e) => !notStarted(e)).map((e) => e.request.source),
    later: open.filter(notStarted).map((e) => e.request.source),
  };
}

/** Whether an evacuation holds its source host while open: a single-VM migration does not. */
export function holdsHost(evacuation: Evacuation): boolean {
  return !evacuation.request.only;
}

// ---------------------------------------------------------------------------------------------
// Campaigns: hosts drained a step at a time, in planCampaign's order, advanced by the engine

export type CampaignState = 'running' | 'paused' | 'completed' | 'stopped' | 'aborted';

export const FINAL_CAMPAIGN_STATES: readonly CampaignState[] = ['completed', 'stopped', 'aborted'];

/** One host of a campaign step: its evacuation once the step started, and how that ended. */
export interface CampaignHost {
  host: string;
  evacuationId?: string;
  outcome?: EvacuationState;
  /** Why the host's evacuation could not start, or what it left behind. */
  cause?: string;
}

export interface Campaign {
  /** Stable id, e.g. `camp-cmp-001-20261124T0200`; a step's evacuation is `${id}-${host}`. */
  id: string;
  requestedBy: string;
  reason?: string;
  maintenance: boolean;
  /** Hosts drained at once in a step. */
  parallel: number;
  /** Go on after a step that ended aborted, failed or partial (default: stop and say why). */
  continueOnPartial: boolean;
  /** Whether each step's VMs are kept off the hosts later steps drain (planCampaign's order). */
  avoidLater: boolean;
  state: CampaignState;
  /** In planCampaign's order; `current` is the step running (or the last one run). */
  steps: { hosts: CampaignHost[] }[];
  current: number;
  /** Why the campaign stopped or was aborted, in an operator's words. */
  stoppedBecause?: string;
  /** When the first step starts (epoch ms). */
  startsAt: number;
  createdAt: number;
  endedAt?: number;
  /** Bumped by every save: a save succeeds only over the version it read (compare-and-set). */
  version: number;
}

// ---------------------------------------------------------------------------------------------
// Approvals

export type SwitchoverKind = 'postcopy' | 'pause';

/**
 * `live`: asked when a running migration needs the switchover; it expires into the safe action
 * (abort). `early`: a pre-approval, asked when the evacuation is confirmed for a move the planner
 * predicts will need it; it lasts until the evacuation ends (or its `expiresAt`), covers only the
 * facts in `covers`, and one that expires or is rejected leaves the move to the live path.
 */
export type ApprovalStage = 'live' | 'early';

export interface ApprovalRequest {
  id: string;
  evacuationId: string;
  migrationId: string;
  instance: string;
  kind: SwitchoverKind;
  requestedBy: string;
  requestedAt: number;
  expiresAt: number;
  /** Facts for the approver. */
  predictedDowntimeMs: number;
  downtimeSloMs: number;
  remainingBytes: number;
  dirtyBytesPerS: number;
  bandwidthBytesPerS: number;
  risk: string;
  /** Absent in records written before pre-approvals existed: `live`. */
  stage?: ApprovalStage;
  /**
   * What an early approval covers: the switchover goes ahead without asking again only while the
   * live dirty rate and predicted downtime are at most these (the facts given, plus the policy's
   * margin); worse facts ask again.
   */
  covers?: { dirtyBytesPerS: number; downtimeMs: number };
}

/** The id of a migration's pre-approval: `${migrationId}:pre-approval` (its evacuation's id is its prefix). */
export function earlyApprovalId(migrationId: string): string {
  return `${migrationId}${EARLY_SUFFIX}`;
}

/** Whether an approval id names a pre-approval. */
export function isEarlyApproval(approvalId: string): boolean {
  return approvalId.endsWith(EARLY_SUFFIX);
}

const EARLY_SUFFIX = ':pre-approval';

/** An approval request and, once someone (or expiry) made it, its decision. */
export interface ApprovalView {
  request: ApprovalRequest;
  decision?: ApprovalDecision;
}

export type ApprovalOutcome = 'approved' | 'rejected' | 'expired';

export interface ApprovalDecision {
  approvalId: string;
  outcome: ApprovalOutcome;
  /** Slack user id of the approver, or `system` for expiry, or `cli` for --approve. */
  decidedBy: string;
  decidedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Events: the append-only stream per evacuation, source of progress messages and post-mortems.

interface EventBase {
  evacuationId: string;
  /** Epoch ms. */
  at: number;
}

export type FerryEvent = EventBase &
  (
    | { type: 'evacuation.planned'; plan: Plan; requestedBy: string; reason?: string }
    | { type: 'evacuation.scheduled'; startsAt: number }
    /** The confirmed plan changed at the start: a move failed re-validation against fresh inventory. */
    | { type: 'plan.revised'; instance: string; from?: string; to?: string; why: string }
    | { type: 'evacuation.started' }
    | { type: 'evacuation.paused'; by: string }
    | { type: 'evacuation.resumed'; by: string }
    | { type: 'host.disabled'; host: string; reason: string }
    | { type: 'host.enabled'; host: string }
    | { type: 'maintenance.started'; host: string }
    | { type: 'maintenance.finished'; host: string; ok: boolean; output?: string; by?: string }
    | { type: 'maintenance.unknown'; host: string; attempt: number; cause: string }
    | {
        type: 'migration.started';
        migrationId: string;
        instance: string;
        from: string;
        to: string;
        prediction: Prediction;
      }
    | { type: 'migration.progress'; migrationId: string; instance: string; sample: ProgressSample }
    | {
        type: 'migration.tuned';
        migrationId: string;
        instance: string;
        downtimeLimitMs?: number;
        autoConverge?: boolean;
        why: string;
      }
    | { type: 'approval.requested'; approval: ApprovalRequest }
    | { type: 'approval.decided'; decision: ApprovalDecision; instance: string }
    | { type: 'migration.switchover'; migrationId: string; instance: string; kind: SwitchoverKind }
    /** Post-copy made no progress for the stall timeout; it cannot be aborted: people must act. */
    | {
        type: 'migration.postcopy-stalled';
        migrationId: string;
        instance: string;
        remainingBytes: number;
        stalledForMs: number;
        /** What can be done: the driver's recovery, or what the operator can do otherwise. */
        recovery: string;
        /** The driver can recover it on an operator's word (FerryService.recoverPostcopy). */
        recoverable?: boolean;
      }
    /**
     * An operator's recovery of a stalled post-copy, carried out by the runner that owns the
     * migration (the one process with its driver): it ran (`ok`), or the driver refused and why.
     */
    | {
        type: 'migration.postcopy-recovery';
        migrationId: string;
        instance: string;
        by: string;
        ok: boolean;
        cause?: string;
      }
    | {
        type: 'migration.completed';
        migrationId: string;
        instance: string;
        strategy: Strategy;
        durationMs: number;
        downtimeMs: number;
        bytesSent: number;
        passes: number;
        /**
         * Set when the back end had lost the migration and ferry found the VM on its destination:
         * the outcome comes from the inventory, and the downtime (0) was not measured.
         */
        cause?: string;
      }
    | {
        type: 'migration.failed';
        migrationId: string;
        instance: string;
        cause: string;
        bytesSent: number;
        passes: number;
      }
    | {
        type: 'migration.aborted';
        migrationId: string;
        instance: string;
        cause: string;
        bytesSent: number;
        passes: number;
      }
    | { type: 'evacuation.finished'; state: EvacuationState; stayed: Blocker[] }
  );

export type FerryEventType = FerryEvent['type'];

/** Post-copy's switchover pauses the guest only to move device state: a few ms (NOTES: 2-10 ms). */
export const POSTCOPY_DOWNTIME_MS = 10;

/** QEMU's auto-converge: first throttle, then the step added at each trigger, and the ceiling. */
export const AUTO_CONVERGE = { initialPct: 20, incrementPct: 10, maxPct: 99 } as const;

/** Names of hosts, instances and domains (letters, digits, ".", "_", "-"; at most 63): what ferry lets near a shell. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Ids of evacuations and campaigns as commands and buttons may carry them (at most 128). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** The evacuation a migration id (`EVACUATION:VM`) belongs to: VM names hold no colon, ids may. */
export function evacuationIdOf(migrationId: string): string {
  return migrationId.slice(0, migrationId.lastIndexOf(':'));
}
