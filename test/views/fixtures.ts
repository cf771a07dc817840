import {
  type ApprovalRequest,
  type Evacuation,
  GiB,
  MiB,
  type Migration,
  type MigrationState,
  type Move,
  type Plan,
} from '../../src/engine/model.js';
import { LIMITS, type Message } from '../../src/views/blocks.js';

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
