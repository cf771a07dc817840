import type { Evacuation, EvacuationState, Migration, MigrationState } from '../engine/model.js';
import { FINAL_EVACUATION_STATES } from '../engine/model.js';
import { ACTION, encodePayload } from './actions.js';
import {
  actions,
  type Block,
  button,
  code,
  confirmDialog,
  context,
  escapeMrkdwn,
  header,
  LIMITS,
  type Message,
  message,
  packLines,
  section,
  textLength,
} from './blocks.js';
import { bar, bytes, duration, percent, plural, time, who } from './format.js';
import { recoverButton } from './notices.js';

/**
 * The live progress message of one evacuation: an overall bar, then one row per VM with its
 * state, % and ETA. Rows that need attention come first; when there are more than one message
 * holds, the rest are summarised by state.
 */

export const STATE_ICON: Record<MigrationState, string> = {
  'awaiting-approval': '✋',
  running: '🔄',
  'switching-over': '⚡',
  aborting: '⏹️',
  failed: '❌',
  aborted: '↩️',
  pending: '⏳',
  completed: '✅',
};

/** Attention order: what a reader must see first. */
const ORDER: MigrationState[] = [
  'awaiting-approval',
  'failed',
  'switching-over',
  'running',
  'aborting',
  'aborted',
  'pending',
  'completed',
];

/** Rows shown one by one; a reader scans a hundred, and Slack caps a message's total size. */
export const MAX_ROWS = 100;

/** Characters kept for the "… and N more VMs" summary (one count per state). */
const OVERFLOW_ROOM = 300;

const EVACUATION_WORDS: Record<EvacuationState, string> = {
  planned: 'planned',
  scheduled: 'scheduled',
  draining: 'draining',
  paused: 'paused (running migrations finish, no new ones start)',
  maintenance: 'drained; maintenance running',
  restoring: 'restoring the host',
  completed: 'completed',
  partial: 'partly done',
  failed: 'failed',
  aborted: 'aborted',
  cancelled: 'cancelled',
};

/** How far one migration is, 0..1. */
export function migrationFraction(m: Migration): number {
  if (m.state === 'completed') return 1;
  const s = m.lastSample;
  if (!s || s.totalBytes <= 0) return 0;
  return Math.min(1, Math.max(0, (s.totalBytes - s.remainingBytes) / s.totalBytes));
}

/** How far an evacuation is, 0..1, by memory moved. */
export function evacuationFraction(evacuation: Evacuation): number {
  const memory = evacuation.migrations.reduce((n, m) => n + m.memoryBytes, 0);
  const done = evacuation.migrations.reduce((n, m) => n + migrationFraction(m) * m.memoryBytes, 0);
  return memory > 0 ? done / memory : FINAL_EVACUATION_STATES.includes(evacuation.state) ? 1 : 0;
}

function row(m: Migration): string {
  const icon = STATE_ICON[m.state];
  const base = `${icon} ${code(m.instance)} → ${code(m.to)} ${m.state}`;
  const s = m.lastSample;
  switch (m.state) {
    case 'completed':
      return `${base} · ${m.strategy} · downtime ${duration(m.downtimeMs ?? 0)}`;
    case 'failed':
    case 'aborted':
      return `${base}${m.cause ? ` · ${escapeMrkdwn(m.cause)}` : ''}`;
    case 'pending':
      return base;
    default: {
      const eta =
        s && s.bandwidthBytesPerS > 0
          ? ` · ETA ${duration((s.remainingBytes / s.bandwidthBytesPerS) * 1000)}`
          : '';
      const pass = s ? ` · pass ${s.iteration}` : '';
      const throttle = s?.throttlePct ? ` · throttled ${s.throttlePct}%` : '';
      if (m.state === 'switching-over' && m.postcopyStalled)
        return `${base} · ${percent(migrationFraction(m))} · 🚨 post-copy stalled, it cannot be aborted (the thread says what to do)`;
      return `${base} · ${percent(migrationFraction(m))}${pass}${throttle}${eta}`;
    }
  }
}

export interface ProgressViewOptions {
  now: number;
  timezone: string;
}

/** Recover buttons on one progress message, at most (Slack allows 25 elements in an actions block). */
const MAX_RECOVER_BUTTONS = 5;

/**
 * Pause / Resume / Abort for an evacuation that can still take them, and Recover for each stalled
 * post-copy the driver can recover, each behind Slack's confirm dialog saying what the click does;
 * undefined when none applies (ended, or in maintenance).
 */
export function controlButtons(evacuation: Evacuation): Block | undefined {
  const { id, source } = evacuation.request;
  const value = encodePayload({ v: 1, id });
  const host = code(source);
  const pause = button(
    'Pause',
    ACTION.pause,
    value,
    undefined,
    confirmDialog(
      'Pause this evacuation?',
      `Draining ${host} pauses: running migrations finish, no new ones start until someone presses Resume.`,
      'Pause',
    ),
  );
  const resume = button(
    'Resume',
    ACTION.resume,
    value,
    'primary',
    confirmDialog('Resume this evacuation?', `ferry starts the migrations left on ${host} again.`, 'Resume'),
  );
  const notStarted = evacuation.state === 'planned' || evacuation.state === 'scheduled';
  const abort = button(
    'Abort',
    ACTION.abort,
    value,
    'danger',
    confirmDialog(
      notStarted ? 'Cancel this evacuation?' : 'Abort this evacuation?',
      notStarted
        ? `The evacuation of ${host} has not started: it is cancelled and nothing moves.`
        : `Running migrations are cancelled and their VMs stay on ${host}; nothing more moves. This cannot be undone.`,
      notStarted ? 'Cancel it' : 'Abort',
      'Keep it',
      'danger',
    ),
  );
  // A stalled post-copy the driver can recover, at most a few: the thread has each one's notice.
  const recovers = evacuation.migrations
    .filter((m) => m.state === 'switching-over' && m.postcopyStalled?.recoverable)
    .slice(0, MAX_RECOVER_BUTTONS)
    .map((m) => recoverButton(m.id, m.instance, `Recover ${m.instance}`));
  const buttons = [
    ...(evacuation.state === 'draining'
      ? [pause, abort]
      : evacuation.state === 'paused'
        ? [resume, abort]
        : notStarted
          ? [abort]
          : []),
    ...recovers,
  ];
  return buttons.length > 0 ? actions(`ferry.controls.${id}`.slice(0, 255), ...buttons) : undefined;
}

/** The whole progress message for the evacuation as it stands. */
export function progressMessage(evacuation: Evacuation, options: ProgressViewOptions): Message {
  const { request, plan, migrations } = evacuation;
  const memory = migrations.reduce((n, m) => n + m.memoryBytes, 0);
  const fraction = evacuationFraction(evacuation);
  const count = (state: MigrationState) => migrations.filter((m) => m.state === state).length;
  const final = FINAL_EVACUATION_STATES.includes(evacuation.state);

  const title = `Evacuation of ${request.source}: ${evacuation.state}`;
  const blocks: Block[] = [header(title)];
  const counts = ORDER.filter((s) => count(s) > 0).map((s) => `${STATE_ICON[s]} ${count(s)} ${s}`);
  const elapsed = evacuation.startedAt
    ? (evacuation.endedAt ?? options.now) - evacuation.startedAt
    : undefined;
  const timing =
    elapsed === undefined
      ? `predicted ${duration(plan.predictedMakespanMs)}`
      : final
        ? `took ${duration(elapsed)} (predicted ${duration(plan.predictedMakespanMs)})`
        : `${duration(elapsed)} elapsed · predicted ${duration(plan.predictedMakespanMs)}`;
  blocks.push(
    section(
      `${code(bar(fraction, 20))} *${percent(fraction)}* of ${bytes(memory)}\n` +
        `${EVACUATION_WORDS[evacuation.state]} · ${timing}\n${counts.join(' · ') || 'no VMs to move'}`,
    ),
  );
  const footer = context(
    `${code(request.id)} · by ${who(request.requestedBy)}${request.reason ? ` · “${escapeMrkdwn(request.reason)}”` : ''}` +
      (plan.blockers.length > 0 ? ` · ${plural(plan.blockers.length, 'VM')} stay (blocked)` : '') +
      ` · updated ${time(options.now, options.timezone)}`,
  );

  const controls = controlButtons(evacuation);
  const tail = controls ? [footer, controls] : [footer];

  const sorted = [...migrations].sort(
    (a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state) || a.instance.localeCompare(b.instance),
  );
  // Keep blocks, and room, for the overflow summary, the footer and the buttons.
  const packed = packLines(
    sorted.slice(0, MAX_ROWS).map(row),
    LIMITS.blocksPerMessage - blocks.length - 1 - tail.length,
    LIMITS.messageText - textLength([...blocks, ...tail]) - OVERFLOW_ROOM,
  );
  blocks.push(...packed.blocks);
  const omitted = sorted.length - Math.min(sorted.length, MAX_ROWS) + packed.omitted;
  if (omitted > 0) {
    const rest = sorted.slice(sorted.length - omitted);
    const byState = ORDER.map((s) => [s, rest.filter((m) => m.state === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}`);
    blocks.push(context(`… and ${omitted} more VMs: ${byState.join(', ')}`));
  }
  blocks.push(...tail);
  return message(`${escapeMrkdwn(title)} — ${percent(fraction)}`, blocks);
}
