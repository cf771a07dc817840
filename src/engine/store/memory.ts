import {
  type ApprovalDecision,
  type ApprovalRequest,
  type Evacuation,
  type FerryEvent,
  isActiveMigration,
} from '../model.js';
import type {
  AdmissionGate,
  ApprovalStore,
  AuditEntry,
  AuditLog,
  ControlChannel,
  ControlCommand,
  EngineStore,
  HostLocks,
  MigrationRecord,
} from '../ports.js';

/**
 * In-process implementations of the engine's ports, for the CLI, the bench and tests. Values
 * are copied in and out, as a database would, so callers cannot share mutable state by accident.
 */

const copy = <T>(value: T): T => structuredClone(value);

/** Freezes a plain value and everything it holds; already frozen parts are skipped. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

/**
 * The store keeps what is committed frozen instead of copying it on every load: a runner step
 * loads every migration each simulated second, and copies were most of the bench's CPU. The
 * runner works on its own clones, so nothing changes a stored value; were anything to try, it
 * would fail loudly (ES modules are strict) rather than differ from a real store.
 */
export class MemoryStore implements EngineStore {
  private readonly evacuations = new Map<string, Evacuation>();
  private readonly migrations = new Map<string, MigrationRecord>();
  private readonly streams = new Map<string, FerryEvent[]>();

  async commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void> {
    if (change.evacuation)
      this.evacuations.set(change.evacuation.request.id, deepFreeze(copy(change.evacuation)));
    for (const record of change.migrations ?? [])
      this.migrations.set(record.migration.id, deepFreeze(copy(record)));
    for (const event of change.events ?? []) {
      const stream = this.streams.get(event.evacuationId) ?? [];
      stream.push(deepFreeze(copy(event)));
      this.streams.set(event.evacuationId, stream);
    }
  }

  async loadEvacuation(id: string): Promise<Evacuation | undefined> {
    return this.evacuations.get(id);
  }

  async loadMigration(id: string): Promise<MigrationRecord | undefined> {
    return this.migrations.get(id);
  }

  async loadMigrations(ids: readonly string[]): Promise<MigrationRecord[]> {
    return ids.flatMap((id) => this.migrations.get(id) ?? []);
  }

  async events(evacuationId: string, after = 0): Promise<FerryEvent[]> {
    return (this.streams.get(evacuationId) ?? []).slice(after);
  }

  async listEvacuations(): Promise<Evacuation[]> {
    return [...this.evacuations.values()].reverse();
  }

  async activeMigrations(): Promise<MigrationRecord[]> {
    return [...this.migrations.values()].filter((r) => isActiveMigration(r.migration.state));
  }
}

/**
 * Approvals decided in process. `answer` decides every new request automatically (the CLI's
 * `--approve all|none`); without it, someone calls `decide`.
 */
export class MemoryApprovals implements ApprovalStore {
  private readonly requests = new Map<string, ApprovalRequest>();
  private readonly decisions = new Map<string, ApprovalDecision>();

  constructor(private readonly answer?: { outcome: 'approved' | 'rejected'; by: string }) {}

  async request(approval: ApprovalRequest): Promise<void> {
    if (this.requests.has(approval.id)) return;
    this.requests.set(approval.id, copy(approval));
    if (this.answer)
      await this.record({
        approvalId: approval.id,
        outcome: this.answer.outcome,
        decidedBy: this.answer.by,
        decidedAt: approval.requestedAt,
      });
  }

  async decision(approvalId: string): Promise<ApprovalDecision | undefined> {
    const found = this.decisions.get(approvalId);
    return found && copy(found);
  }

  async expire(approvalId: string, at: number): Promise<ApprovalDecision> {
    return this.record({ approvalId, outcome: 'expired', decidedBy: 'system', decidedAt: at });
  }

  async record(decision: ApprovalDecision): Promise<ApprovalDecision> {
    const standing = this.decisions.get(decision.approvalId);
    if (standing) return copy(standing);
    this.decisions.set(decision.approvalId, copy(decision));
    return copy(decision);
  }

  async get(approvalId: string): Promise<ApprovalRequest | undefined> {
    const found = this.requests.get(approvalId);
    return found && copy(found);
  }
}

export class MemoryControl implements ControlChannel {
  private readonly commands = new Map<string, { command: ControlCommand; by: string }>();

  async current(evacuationId: string): Promise<{ command: ControlCommand; by: string } | undefined> {
    return this.commands.get(evacuationId);
  }

  async set(evacuationId: string, command: ControlCommand, by: string): Promise<void> {
    this.commands.set(evacuationId, { command, by });
  }
}

export class MemoryLocks implements HostLocks {
  private readonly holders = new Map<string, string>();

  async acquire(host: string, evacuationId: string): Promise<string | undefined> {
    const holder = this.holders.get(host);
    if (holder && holder !== evacuationId) return holder;
    this.holders.set(host, evacuationId);
    return undefined;
  }

  async release(host: string, evacuationId: string): Promise<void> {
    if (this.holders.get(host) === evacuationId) this.holders.delete(host);
  }
}

export class MemoryAudit implements AuditLog {
  private readonly log: AuditEntry[] = [];

  async append(entry: AuditEntry): Promise<void> {
    this.log.push(copy(entry));
  }

  async entries(): Promise<AuditEntry[]> {
    return copy(this.log);
  }
}

/** Admission one evacuation at a time in this process: a queue of waiters. */
export class MemoryAdmissionGate implements AdmissionGate {
  private tail: Promise<unknown> = Promise.resolve();

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
