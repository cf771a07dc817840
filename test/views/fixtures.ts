import {
  type ApprovalRequest,
  type Evacuation,
  type FerryEvent,
  GiB,
  MiB,
  type Migration,
  type MigrationState,
  type Move,
  type Plan,
} from '../../src/engine/model.js';
import { LIMITS, type Message, textLength } from '../../src/views/blocks.js';

/** Deterministic domain values for view tests: no engine needed to render. */

export const T0 = Date.UTC(2026, 10, 24, 2, 0);

export function move(i: number, overrides: Partial<Move> = {}): Move {
  const memoryBytes = (4 + (i % 4) * 4) * GiB;
  const dirty = (10 + (i % 7) * 40) * MiB;
  return {
    instance: `web-${String(i).padStart(3, '0')}`,
    from: 'cmp-042',
    to: `cmp-${String(100 + (i % 9)).padStart(3, '0')}`,
    memoryBytes,
    dirtyBytesPerS: dirty,
    downtimeSloMs: 500,
    prediction: {
      converges: true,
      strategy: 'precopy',
      passes: 3 + (i % 4),
      bytesSent: memoryBytes * 1.2,
      durationMs: 8000 + i * 250,
      downtimeMs: 40 + (i % 5) * 20,
      bandwidthBytesPerS: 1.1 * GiB,
    },
    ...overrides,
  };
}

export function plan(moves: number): Plan {
  const list = Array.from({ length: moves }, (_, i) => move(i));
  if (moves > 2) {
    list[1] = move(1, {
      instance: 'db-07',
      dirtyBytesPerS: 900 * MiB,
      prediction: {
        converges: true,
        strategy: 'postcopy',
        passes: 0,
        bytesSent: 16 * GiB,
        durationMs: 30_000,
        downtimeMs: 5,
        bandwidthBytesPerS: 1.1 * GiB,
        note: 'dirties 900 MiB/s, more than the 1.1 GiB/s share allows at a 500 ms SLO',
      },
    });
  }
  return {
    source: 'cmp-042',
    moves: list,
    blockers: [{ instance: 'gpu-01', code: 'not-migratable', reason: 'PCI passthrough (GPU)' }],
    lowerBoundMs: 60_000,
    predictedMakespanMs: 95_000,
  };
}

const STATES: MigrationState[] = ['completed', 'completed', 'running', 'pending', 'completed', 'failed'];

export function evacuation(vms: number): Evacuation {
  const p = plan(vms);
  const migrations: Migration[] = p.moves.map((m, i) => {
    const state: MigrationState = i === 1 && vms > 2 ? 'awaiting-approval' : STATES[i % STATES.length]!;
    const total = m.memoryBytes;
    return {
      id: `evac-cmp-042-1:${m.instance}`,
      evacuationId: 'evac-cmp-042-1',
      instance: m.instance,
      from: m.from,
      to: m.to,
      state,
      strategy: m.prediction.strategy,
      memoryBytes: m.memoryBytes,
      prediction: m.prediction,
      bytesSent: state === 'pending' ? 0 : total,
      passes: state === 'pending' ? 0 : 3,
      ...(state === 'completed' ? { downtimeMs: 35 + i, startedAt: T0, endedAt: T0 + 9000 } : {}),
      ...(state === 'failed' ? { cause: 'destination host cmp-105 stopped answering' } : {}),
      ...(state === 'running' || state === 'awaiting-approval'
        ? {
            startedAt: T0,
            lastSample: {
              at: T0 + 20_000,
              status: 'active',
              totalBytes: total,
              transferredBytes: total * 0.8,
              remainingBytes: total * 0.37,
              dirtyBytesPerS: m.dirtyBytesPerS,
              bandwidthBytesPerS: GiB,
              iteration: 4,
              throttlePct: state === 'awaiting-approval' ? 40 : undefined,
            },
          }
        : {}),
    };
  });
  return {
    request: {
      id: 'evac-cmp-042-1',
      source: 'cmp-042',
      requestedBy: 'U0ALICE',
      reason: 'kernel upgrade',
      maintenance: false,
    },
    state: 'draining',
    plan: p,
    migrations,
    startedAt: T0,
  };
}

export const approval: ApprovalRequest = {
  id: 'evac-cmp-042-1:db-07:approval:1',
  evacuationId: 'evac-cmp-042-1',
  migrationId: 'evac-cmp-042-1:db-07',
  instance: 'db-07',
  kind: 'postcopy',
  requestedBy: 'U0ALICE',
  requestedAt: T0 + 60_000,
  expiresAt: T0 + 960_000,
  predictedDowntimeMs: 2300,
  downtimeSloMs: 500,
  remainingBytes: 2.3 * GiB,
  dirtyBytesPerS: 900 * MiB,
  bandwidthBytesPerS: GiB,
  risk: 'if the link fails during post-copy the guest is lost',
};

/** Every Slack limit the views promise to keep. */
export function limitViolations(message: Message): string[] {
  const problems: string[] = [];
  if (message.blocks.length > LIMITS.blocksPerMessage) problems.push(`${message.blocks.length} blocks`);
  if (message.text.length > LIMITS.fallbackText) problems.push(`fallback text of ${message.text.length}`);
  const total = textLength(message.blocks);
  if (total > LIMITS.messageText) problems.push(`${total} characters of text in all`);
  for (const block of message.blocks) {
    if (block.type === 'section' && block.text.text.length > LIMITS.sectionText)
      problems.push(`section of ${block.text.text.length} characters`);
    if (block.type === 'header' && block.text.text.length > LIMITS.headerText) problems.push('long header');
    if (block.type === 'context' && block.elements.length > LIMITS.contextElements)
      problems.push('context elements');
    if (block.type === 'actions')
      for (const b of block.elements) if (b.value.length > LIMITS.buttonValue) problems.push('button value');
  }
  return problems;
}

const EVACUATION_ID = 'evac-cmp-042-1';

/**
 * The event stream of an evacuation of `p`: every move starts; the one at index 1 (db-07) needs
 * post-copy and bob approves it; every `failEvery`-th fails; every `abortEvery`-th is rejected.
 */
export function story(p: Plan, options: { failEvery?: number; rejectEvery?: number } = {}): FerryEvent[] {
  const at = (s: number) => T0 + s * 1000;
  const events: FerryEvent[] = [
    {
      evacuationId: EVACUATION_ID,
      at: at(0),
      type: 'evacuation.planned',
      plan: p,
      requestedBy: 'U0ALICE',
      reason: 'kernel upgrade',
    },
    { evacuationId: EVACUATION_ID, at: at(1), type: 'evacuation.started' },
  ];
  p.moves.forEach((move, i) => {
    const migrationId = `${EVACUATION_ID}:${move.instance}`;
    const base = { evacuationId: EVACUATION_ID, migrationId, instance: move.instance };
    const t = 2 + i;
    events.push({
      ...base,
      at: at(t),
      type: 'migration.started',
      from: move.from,
      to: move.to,
      prediction: move.prediction,
    });
    events.push({
      ...base,
      at: at(t + 5),
      type: 'migration.progress',
      sample: {
        at: at(t + 5),
        status: 'active',
        totalBytes: move.memoryBytes,
        transferredBytes: move.memoryBytes * 0.7,
        remainingBytes: move.memoryBytes * 0.4,
        dirtyBytesPerS: move.dirtyBytesPerS,
        bandwidthBytesPerS: GiB,
        iteration: 2,
      },
    });
    const risky = move.prediction.strategy === 'postcopy';
    const rejected = options.rejectEvery !== undefined && i % options.rejectEvery === 3;
    if (risky || rejected) {
      const approvalId = `${migrationId}:approval:1`;
      events.push({
        evacuationId: EVACUATION_ID,
        at: at(t + 6),
        type: 'approval.requested',
        approval: {
          id: approvalId,
          evacuationId: EVACUATION_ID,
          migrationId,
          instance: move.instance,
          kind: 'postcopy',
          requestedBy: 'U0ALICE',
          requestedAt: at(t + 6),
          expiresAt: at(t + 906),
          predictedDowntimeMs: 2300,
          downtimeSloMs: 500,
          remainingBytes: 2 * GiB,
          dirtyBytesPerS: 900 * MiB,
          bandwidthBytesPerS: GiB,
          risk: 'a link failure during post-copy loses the guest',
        },
      });
      events.push({
        evacuationId: EVACUATION_ID,
        at: at(t + 46),
        type: 'approval.decided',
        instance: move.instance,
        decision: {
          approvalId,
          outcome: rejected ? 'rejected' : 'approved',
          decidedBy: 'U0BOB',
          decidedAt: at(t + 46),
        },
      });
      if (rejected) {
        events.push({
          ...base,
          at: at(t + 47),
          type: 'migration.aborted',
          cause: 'post-copy rejected by an approver',
          bytesSent: move.memoryBytes,
          passes: 6,
        });
        return;
      }
      events.push({ ...base, at: at(t + 47), type: 'migration.switchover', kind: 'postcopy' });
    }
    if (options.failEvery !== undefined && i % options.failEvery === 5 % options.failEvery) {
      events.push({
        ...base,
        at: at(t + 9),
        type: 'migration.failed',
        cause: `destination host ${move.to} stopped answering`,
        bytesSent: move.memoryBytes * 0.7,
        passes: 2,
      });
      return;
    }
    events.push({
      ...base,
      at: at(t + (risky ? 52 : 9)),
      type: 'migration.completed',
      strategy: risky ? 'postcopy' : move.prediction.strategy,
      durationMs: (risky ? 50 : 7 + (i % 5)) * 1000,
      downtimeMs: risky ? 6 : 30 + (i % 9) * 10,
      bytesSent: move.memoryBytes * 1.3,
      passes: risky ? 3 : 4 + (i % 3),
    });
  });
  const end = 2 + p.moves.length + 60;
  const failed = events.some((e) => e.type === 'migration.failed' || e.type === 'migration.aborted');
  events.push({
    evacuationId: EVACUATION_ID,
    at: at(end),
    type: 'evacuation.finished',
    state: failed ? 'partial' : 'completed',
    stayed: p.blockers,
  });
  return events;
}

/** What an evacuate command's preview shows, with the ticket its Confirm button carries. */
export const confirm = {
  ticket: { v: 2 as const, planId: 'plan-abcdefgh12', nonce: 'nonce-12345678' },
  requestedBy: 'U0ALICE',
  when: { kind: 'now' as const },
  reason: 'kernel upgrade',
  expiresAt: T0 + 15 * 60_000,
};
