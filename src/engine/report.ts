import type {
  ApprovalOutcome,
  Blocker,
  EvacuationState,
  FerryEvent,
  MigrationState,
  Plan,
  Prediction,
  Strategy,
  SwitchoverKind,
} from './model.js';
import type { AuditEntry } from './ports.js';
import { formatRate } from './words.js';

/**
 * Post-mortem facts derived from an evacuation's event stream alone (the stream is the source of
 * truth): what happened, how long against the plan, each VM's numbers, each failure's cause, who
 * approved what, and what to change next time.
 */

export interface MigrationFacts {
  instance: string;
  from: string;
  to: string;
  state: Extract<MigrationState, 'completed' | 'failed' | 'aborted'> | 'unfinished';
  strategy: Strategy;
  durationMs?: number;
  downtimeMs?: number;
  bytesSent: number;
  memoryBytes: number;
  passes: number;
  cause?: string;
  prediction: Prediction;
  /** Highest dirty rate seen in its progress samples, bytes/s. */
  peakDirtyBytesPerS: number;
  /** Its post-copy made no progress this long (raised to people), ms. */
  postcopyStalledMs?: number;
}

export interface ApprovalFacts {
  instance: string;
  kind: SwitchoverKind;
  /** A pre-approval asked at confirm (else asked when the move needed it). */
  early: boolean;
  outcome?: ApprovalOutcome;
  decidedBy?: string;
  requestedAt: number;
  decidedAt?: number;
}

export interface PostMortem {
  evacuationId: string;
  source: string;
  requestedBy: string;
  reason?: string;
  outcome: EvacuationState | 'running';
  startedAt?: number;
  endedAt?: number;
  durationMs?: number;
  predictedMakespanMs: number;
  lowerBoundMs: number;
  migrations: MigrationFacts[];
  blockers: Blocker[];
  stayed: Blocker[];
  approvals: ApprovalFacts[];
  maintenance?: { ok: boolean; output?: string };
  hostReenabled: boolean;
  recommendations: string[];
  /** From the audit trail, when given: how many actions were done, and every refused attempt. */
  audit?: {
    done: number;
    refused: { at: number; who: string; action: string; target: string; why: string }[];
  };
}

/**
 * Builds the post-mortem of one evacuation from its events (in stream order) and, when given,
 * its audit trail (what people did to it, and what they were refused).
 */
export function postMortem(events: readonly FerryEvent[], audit?: readonly AuditEntry[]): PostMortem {
  let plan: Plan | undefined;
  const facts = new Map<string, MigrationFacts>();
  const approvals = new Map<string, ApprovalFacts>();
  const report: Omit<
    PostMortem,
    'predictedMakespanMs' | 'lowerBoundMs' | 'migrations' | 'approvals' | 'recommendations'
  > = {
    evacuationId: events[0]?.evacuationId ?? '',
    source: '',
    requestedBy: '',
    outcome: 'running',
    blockers: [],
    stayed: [],
    hostReenabled: false,
  };
  for (const event of events) {
    switch (event.type) {
      case 'evacuation.planned':
        plan = event.plan;
        report.source = event.plan.source;
        report.requestedBy = event.requestedBy;
        report.reason = event.reason;
        report.blockers = event.plan.blockers;
        break;
      case 'evacuation.started':
        report.startedAt = event.at;
        break;
      case 'migration.started':
        facts.set(event.instance, {
          instance: event.instance,
          from: event.from,
          to: event.to,
          state: 'unfinished',
          strategy: 'precopy',
          bytesSent: 0,
          passes: 0,
          memoryBytes: plan?.moves.find((m) => m.instance === event.instance)?.memoryBytes ?? 0,
          prediction: event.prediction,
          // What the inventory said, until a sample measures more.
          peakDirtyBytesPerS: plan?.moves.find((m) => m.instance === event.instance)?.dirtyBytesPerS ?? 0,
        });
        break;
      case 'migration.progress': {
        const f = facts.get(event.instance);
        if (f) {
          f.peakDirtyBytesPerS = Math.max(f.peakDirtyBytesPerS, event.sample.dirtyBytesPerS);
          f.bytesSent = event.sample.transferredBytes;
          f.passes = event.sample.iteration;
        }
        break;
      }
      case 'migration.tuned': {
        const f = facts.get(event.instance);
        if (f && event.autoConverge) f.strategy = 'auto-converge';
        break;
      }
      case 'migration.switchover': {
        const f = facts.get(event.instance);
        if (f) f.strategy = event.kind;
        break;
      }
      case 'migration.postcopy-stalled': {
        const f = facts.get(event.instance);
        if (f) f.postcopyStalledMs = Math.max(f.postcopyStalledMs ?? 0, event.stalledForMs);
        break;
      }
      case 'migration.completed':
        Object.assign(ensure(facts, event.instance, plan), {
          state: 'completed',
          strategy: event.strategy,
          durationMs: event.durationMs,
          downtimeMs: event.downtimeMs,
          bytesSent: event.bytesSent,
          passes: event.passes,
        });
        break;
      case 'migration.failed':
      case 'migration.aborted':
        Object.assign(ensure(facts, event.instance, plan), {
          state: event.type === 'migration.failed' ? 'failed' : 'aborted',
          cause: event.cause,
          bytesSent: event.bytesSent,
          passes: event.passes,
        });
        break;
      case 'approval.requested':
        approvals.set(event.approval.id, {
          instance: event.approval.instance,
          kind: event.approval.kind,
          early: event.approval.stage === 'early',
          requestedAt: event.at,
        });
        break;
      case 'approval.decided': {
        const a = approvals.get(event.decision.approvalId);
        if (a)
          Object.assign(a, {
            outcome: event.decision.outcome,
            decidedBy: event.decision.decidedBy,
            decidedAt: event.decision.decidedAt,
          });
        break;
      }
      case 'maintenance.finished':
        report.maintenance = { ok: event.ok, output: event.output };
        break;
      case 'host.enabled':
        report.hostReenabled = true;
        break;
      case 'evacuation.finished':
        report.outcome = event.state;
        report.stayed = event.stayed;
        report.endedAt = event.at;
        break;
      default:
        break;
    }
  }
  const migrations = [...facts.values()];
  const durationMs =
    report.startedAt !== undefined && report.endedAt !== undefined
      ? report.endedAt - report.startedAt
      : undefined;
  const approvalList = [...approvals.values()];
  return {
    ...report,
    durationMs,
    predictedMakespanMs: plan?.predictedMakespanMs ?? 0,
    lowerBoundMs: plan?.lowerBoundMs ?? 0,
    migrations,
    approvals: approvalList,
    recommendations: recommend(migrations, approvalList, report.blockers, durationMs, plan),
    ...(audit && { audit: auditSummary(audit) }),
  };
}

function ensure(
  facts: Map<string, MigrationFacts>,
  instance: string,
  plan: Plan | undefined,
): MigrationFacts {
  let f = facts.get(instance);
  if (!f) {
    // Dropped before it started (evacuation aborted, window closed): still one row of the table.
    const move = plan?.moves.find((m) => m.instance === instance);
    f = {
      instance,
      from: move?.from ?? plan?.source ?? '',
      to: move?.to ?? '',
      state: 'unfinished',
      strategy: move?.prediction.strategy ?? 'precopy',
      bytesSent: 0,
      passes: 0,
      memoryBytes: move?.memoryBytes ?? 0,
      prediction: move?.prediction ?? {
        converges: false,
        strategy: 'precopy',
        passes: 0,
        bytesSent: 0,
        durationMs: 0,
        downtimeMs: 0,
        bandwidthBytesPerS: 0,
      },
      peakDirtyBytesPerS: 0,
    };
    facts.set(instance, f);
  }
  return f;
}

/** What an operator should change next time, from what went wrong or needed help. */
function recommend(
  migrations: MigrationFacts[],
  approvals: ApprovalFacts[],
  blockers: Blocker[],
  durationMs: number | undefined,
  plan: Plan | undefined,
): string[] {
  const out: string[] = [];
  for (const m of migrations) {
    if (m.postcopyStalledMs !== undefined)
      out.push(
        `${m.instance}'s post-copy made no progress for ${Math.round(m.postcopyStalledMs / 1000)} s: check the migration network between ${m.from} and ${m.to} before the next post-copy`,
      );
    const risky = m.strategy === 'postcopy' || m.strategy === 'pause';
    // Aborted by the policy or an approver (not by an operator): it did not converge in time.
    const gaveUp = m.state === 'aborted' && !/aborted by|window closed/.test(m.cause ?? '');
    if (m.state === 'failed')
      out.push(
        `${m.instance} failed (${m.cause}): check ${m.to || 'the destination'} and retry it alone with /ferry migrate ${m.instance}`,
      );
    else if (gaveUp && m.peakDirtyBytesPerS > 0)
      out.push(
        `${m.instance} dirties ${formatRate(m.peakDirtyBytesPerS)}: schedule it with post-copy allowed or in a quieter hour`,
      );
    else if (risky && m.peakDirtyBytesPerS > 0)
      out.push(
        `${m.instance} dirties ${formatRate(m.peakDirtyBytesPerS)} and needed ${m.strategy === 'postcopy' ? 'post-copy' : 'a pause'}: in a quieter hour it could move by pre-copy, without asking anyone`,
      );
    else if (m.strategy === 'auto-converge')
      out.push(`${m.instance} needed auto-converge (guest slowed during the move): consider a quieter hour`);
  }
  const expired = approvals.filter((a) => a.outcome === 'expired');
  if (expired.length > 0)
    out.push(
      `${expired.length} approval(s) expired unanswered: make sure an approver is on call during the window`,
    );
  for (const b of blockers.filter((b) => b.code === 'no-capacity' || b.code === 'anti-affinity'))
    out.push(`${b.instance} could not be placed (${b.reason}): free capacity or relax its placement rules`);
  for (const b of blockers.filter((b) => b.code === 'outside-window'))
    out.push(`${b.instance} did not fit the window: use a longer window or move it beforehand`);
  if (
    durationMs !== undefined &&
    plan &&
    plan.predictedMakespanMs > 0 &&
    durationMs > plan.predictedMakespanMs * 1.5
  )
    out.push(
      `took ${Math.round(durationMs / 1000)} s against ${Math.round(plan.predictedMakespanMs / 1000)} s planned: the dirty rates or link speeds in the inventory may be stale`,
    );
  return out;
}

function auditSummary(entries: readonly AuditEntry[]): NonNullable<PostMortem['audit']> {
  return {
    done: entries.filter((e) => e.refused === undefined).length,
    refused: entries.flatMap(({ at, who, action, target, refused }) =>
      refused === undefined ? [] : [{ at, who, action, target, why: refused }],
    ),
  };
}
