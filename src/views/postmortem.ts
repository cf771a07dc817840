import type { FerryEvent, Strategy } from '../engine/model.js';
import type { AuditEntry } from '../engine/ports.js';
import { type MigrationFacts, type PostMortem, postMortem } from '../engine/report.js';
import {
  type Block,
  clip,
  code,
  context,
  divider,
  escapeMrkdwn,
  header,
  LIMITS,
  type Message,
  message,
  packLines,
  section,
} from './blocks.js';
import { bytes, clockTime, duration, plural, time, who, withCommand } from './format.js';
import { DEFAULT_COMMAND } from './usage.js';

/**
 * The post-mortem posted when an evacuation ends (and shown by `/ferry report ID`): outcome,
 * duration against the plan, a per-VM table, each failure with its cause, who approved what, and
 * what to change next time. A 500-VM evacuation still fits one message: the table lists the VMs
 * a reader must look at first and summarises the rest by result and strategy.
 */

export interface PostMortemViewOptions {
  timezone: string;
  /** The command as users type it (`/ferry`, or `/ops ferry` in a host bot). */
  command?: string;
}

/** The post-mortem message, and the pages of the full per-VM table for its thread when the message could not hold it. */
export interface PostMortemView {
  message: Message;
  thread: Message[];
}

/** Rows of the per-VM table; the rest are in the group summary above it. */
export const MAX_TABLE_ROWS = 60;

/**
 * Blocks and characters each part may use at most, so every part shows up whatever the others
 * hold, and the whole stays within Slack's 12,000 characters (the header and the summary take
 * at most about 1,700 of them, the notes and the footer a few hundred).
 */
const BUDGET = {
  groups: { blocks: 2, chars: 1200 },
  table: { blocks: 2, chars: 3000 },
  failures: { blocks: 5, chars: 2400 },
  approvals: { blocks: 3, chars: 1400 },
  recommendations: { blocks: 3, chars: 1200 },
  audit: { blocks: 3, chars: 1200 },
} as const;

/** A thread page of the full table: a few sections, well inside one message's limits. */
const PAGE = { blocks: 4, chars: 11_000 } as const;

type Result = MigrationFacts['state'];

const RESULT_ICON: Record<Result, string> = {
  failed: '❌',
  aborted: '↩️',
  unfinished: '⏳',
  completed: '✅',
};

const OUTCOME_ICON: Record<PostMortem['outcome'], string> = {
  completed: '✅',
  partial: '⚠️',
  failed: '❌',
  aborted: '⏹️',
  cancelled: '🚫',
  running: '🔄',
  planned: '🗓️',
  scheduled: '🗓️',
  draining: '🔄',
  paused: '⏸️',
  maintenance: '🔧',
  restoring: '🔧',
};

/** Attention order: what went wrong, then what needed help, then the routine. */
const RESULT_ORDER: Result[] = ['failed', 'aborted', 'unfinished', 'completed'];
const STRATEGY_ORDER: Strategy[] = ['pause', 'postcopy', 'auto-converge', 'precopy'];

function attention(a: MigrationFacts, b: MigrationFacts): number {
  return (
    RESULT_ORDER.indexOf(a.state) - RESULT_ORDER.indexOf(b.state) ||
    STRATEGY_ORDER.indexOf(a.strategy) - STRATEGY_ORDER.indexOf(b.strategy) ||
    (b.downtimeMs ?? 0) - (a.downtimeMs ?? 0) ||
    a.instance.localeCompare(b.instance)
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function signedPercent(actual: number, planned: number): string {
  const delta = Math.round(((actual - planned) / planned) * 100);
  return delta === 0 ? 'on plan' : `${delta > 0 ? '+' : ''}${delta}%`;
}

function summary(pm: PostMortem, options: PostMortemViewOptions): string {
  const moved = pm.migrations.filter((m) => m.state === 'completed');
  const stayed = stayedBlockers(pm).length;
  const lines = [
    `*Outcome* ${OUTCOME_ICON[pm.outcome]} ${pm.outcome} — ${moved.length} of ${plural(pm.migrations.length, 'VM')} moved` +
      (stayed > 0 ? `, ${stayed} stayed on ${escapeMrkdwn(pm.source)}` : ''),
  ];
  const planned = pm.predictedMakespanMs;
  if (pm.durationMs !== undefined)
    lines.push(
      `*Duration* ${duration(pm.durationMs)} against ${duration(planned)} planned` +
        (planned > 0 ? ` (${signedPercent(pm.durationMs, planned)})` : '') +
        (pm.lowerBoundMs > 0 ? `; no schedule beats ${duration(pm.lowerBoundMs)}` : ''),
    );
  else lines.push(`*Duration* not finished; ${duration(planned)} planned`);
  if (pm.startedAt !== undefined)
    lines.push(
      `*When* ${time(pm.startedAt, options.timezone)}${pm.endedAt !== undefined ? ` → ${time(pm.endedAt, options.timezone)}` : ''}`,
    );
  const memory = moved.reduce((n, m) => n + m.memoryBytes, 0);
  const sent = pm.migrations.reduce((n, m) => n + m.bytesSent, 0);
  const worst = moved.reduce<MigrationFacts | undefined>(
    (w, m) => ((m.downtimeMs ?? 0) > (w?.downtimeMs ?? -1) ? m : w),
    undefined,
  );
  if (pm.migrations.length > 0)
    lines.push(
      `*Moved* ${bytes(memory)} of guest memory; ${bytes(sent)} sent in all` +
        (worst ? ` · worst downtime ${duration(worst.downtimeMs ?? 0)} (${code(worst.instance)})` : ''),
    );
  lines.push(
    `*Requested by* ${who(pm.requestedBy)}${pm.reason ? ` — “${escapeMrkdwn(clip(pm.reason, 300))}”` : ''}`,
  );
  const host = [
    pm.maintenance ? `maintenance ${pm.maintenance.ok ? 'succeeded' : 'failed'}` : undefined,
    pm.hostReenabled ? 're-enabled for scheduling' : undefined,
  ].filter(Boolean);
  if (host.length > 0) lines.push(`*Host* ${escapeMrkdwn(pm.source)}: ${host.join(', ')}`);
  return lines.join('\n');
}

/** One line per (result, strategy): how many, how long, how much downtime, how many bytes. */
function groupLines(migrations: MigrationFacts[]): string[] {
  const groups = new Map<string, MigrationFacts[]>();
  for (const m of [...migrations].sort(attention)) {
    const key = `${m.state}/${m.strategy}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    const durations = list.flatMap((m) => (m.durationMs !== undefined ? [m.durationMs] : []));
    const downtimes = list.flatMap((m) => (m.downtimeMs !== undefined ? [m.downtimeMs] : []));
    const parts = [
      `${RESULT_ICON[first.state]} *${plural(list.length, 'VM')}* ${first.state} (${first.strategy})`,
    ];
    if (durations.length > 0)
      parts.push(`took ${duration(median(durations))} median, ${duration(Math.max(...durations))} max`);
    if (downtimes.length > 0)
      parts.push(`downtime ${duration(median(downtimes))} median, ${duration(Math.max(...downtimes))} max`);
    parts.push(`${bytes(list.reduce((n, m) => n + m.bytesSent, 0))} sent`);
    return parts.join(' · ');
  });
}

const COLUMNS = ['VM', 'to', 'result', 'strategy', 'took', 'planned', 'downtime', 'sent', 'passes'] as const;

/** A cell inside a code block: a backtick in a name must not end the block. */
function cell(text: string, max: number): string {
  return clip(text, max).replaceAll('`', 'ˋ');
}

function tableRow(m: MigrationFacts): string[] {
  return [
    cell(m.instance, 24),
    cell(m.to || '—', 16),
    m.state,
    m.strategy,
    m.durationMs !== undefined ? duration(m.durationMs) : '—',
    duration(m.prediction.durationMs),
    m.downtimeMs !== undefined ? duration(m.downtimeMs) : '—',
    bytes(m.bytesSent),
    String(m.passes),
  ];
}

/**
 * A fixed-width table in code blocks, split into as many sections as needed (each within Slack's
 * text limit, each repeating the column names), at most `maxBlocks` sections and `maxChars`
 * characters; returns the blocks and how many rows did not fit.
 */
export function tableBlocks(
  rows: string[][],
  maxBlocks: number,
  maxChars: number = LIMITS.messageText,
): { blocks: Block[]; omitted: number } {
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const format = (r: string[]) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  const head = format([...COLUMNS]);
  const fence = '```';
  const blocks: Block[] = [];
  let current: string[] = [];
  const empty = 2 * fence.length + 1 + head.length;
  let length = empty;
  let total = 0;
  let used = 0;
  const flush = () => {
    blocks.push(section(`${fence}${[head, ...current].join('\n')}${fence}`));
    total += length;
    current = [];
    length = empty;
  };
  for (const r of rows) {
    // Table lines are short (clipped cells), so one always fits an empty section.
    const line = escapeMrkdwn(format(r));
    if (current.length > 0 && length + 1 + line.length > LIMITS.sectionText) {
      if (blocks.length + 1 >= maxBlocks) break;
      flush();
    }
    if (total + length + 1 + line.length > maxChars) break;
    if (maxBlocks <= 0) break;
    current.push(line);
    length += 1 + line.length;
    used++;
  }
  if (current.length > 0) flush();
  return { blocks, omitted: rows.length - used };
}

/** What stayed on the source for a reason known before it started (failures are listed with theirs). */
function stayedBlockers(pm: PostMortem) {
  const list = pm.stayed.length > 0 || pm.outcome !== 'running' ? pm.stayed : pm.blockers;
  const seen = new Set<string>();
  return [...list, ...pm.blockers].filter((b) => {
    if (b.code === 'migration-failed' || b.code === 'migration-aborted' || seen.has(b.instance)) return false;
    seen.add(b.instance);
    return true;
  });
}

function failureLines(pm: PostMortem): string[] {
  const failed = pm.migrations
    .filter((m) => m.state === 'failed' || m.state === 'aborted')
    .sort(attention)
    .map(
      (m) =>
        `${RESULT_ICON[m.state]} ${code(m.instance)} ${m.state === 'failed' ? `failed moving to ${code(m.to)}` : 'aborted; it stays on its source'}` +
        ` after ${m.passes} passes, ${bytes(m.bytesSent)} sent — ${escapeMrkdwn(m.cause ?? 'no cause recorded')}`,
    );
  const unfinished = pm.migrations
    .filter((m) => m.state === 'unfinished' && pm.outcome !== 'running')
    .map((m) => `⏳ ${code(m.instance)} never finished: the evacuation ended (${pm.outcome}) first`);
  const stayed = stayedBlockers(pm).map(
    (b) => `⛔ ${code(b.instance)} stayed: ${escapeMrkdwn(b.reason)} (${b.code})`,
  );
  return [...failed, ...unfinished, ...stayed];
}

const KIND_WORDS = { postcopy: 'switch to post-copy', pause: 'pause the guest' } as const;

function approvalLines(pm: PostMortem, options: PostMortemViewOptions): string[] {
  return pm.approvals.map((a) => {
    const asked = `${code(a.instance)} asked ${a.early ? 'early ' : ''}to ${KIND_WORDS[a.kind]} at ${time(a.requestedAt, options.timezone)}`;
    const waited = a.decidedAt !== undefined ? ` after ${duration(a.decidedAt - a.requestedAt)}` : '';
    if (a.early && a.outcome === 'rejected')
      return `🚫 ${asked}: rejected by ${who(a.decidedBy ?? 'unknown')}${waited}; asked again if the move needed it`;
    if (a.early && a.outcome === 'expired')
      return `⌛ ${asked}: lapsed undecided${waited}; asked again if the move needed it`;
    switch (a.outcome) {
      case 'approved':
        return `✅ ${asked}: approved by ${who(a.decidedBy ?? 'unknown')}${waited}`;
      case 'rejected':
        return `🚫 ${asked}: rejected by ${who(a.decidedBy ?? 'unknown')}${waited}; the VM stayed on its source`;
      case 'expired':
        return `⌛ ${asked}: expired unanswered${waited}; ferry aborted it and the VM stayed on its source`;
      default:
        return `✋ ${asked}: no decision recorded`;
    }
  });
}

/** Appends a part's title, its lines within its budget, and a note of what did not fit. */
function part(
  blocks: Block[],
  title: string,
  lines: string[],
  budget: { blocks: number; chars: number },
  more: string,
): void {
  if (lines.length === 0) return;
  const packed = packLines([`*${title}*`, ...lines], budget.blocks, budget.chars);
  blocks.push(...packed.blocks);
  if (packed.omitted > 0) blocks.push(context(`… and ${packed.omitted} more ${more}`));
}

/** The post-mortem message of one evacuation. */
export function postMortemMessage(pm: PostMortem, options: PostMortemViewOptions): Message {
  return postMortemView(pm, options).message;
}

/**
 * The post-mortem message, and, when the per-VM table did not fit in it, the whole table in
 * pages for the message's thread: a 500-VM evacuation is summarised in the channel and listed
 * in full one click away.
 */
export function postMortemView(pm: PostMortem, options: PostMortemViewOptions): PostMortemView {
  const title = `Post-mortem: ${pm.source ? `evacuation of ${pm.source}` : pm.evacuationId} — ${pm.outcome}`;
  const blocks: Block[] = [header(title), section(summary(pm, options))];
  const sorted = [...pm.migrations].sort(attention);
  let listed = sorted.length;

  if (pm.migrations.length > 0) {
    blocks.push(divider());
    part(blocks, 'By result and strategy', groupLines(pm.migrations), BUDGET.groups, 'groups');
    const table = tableBlocks(
      sorted.slice(0, MAX_TABLE_ROWS).map(tableRow),
      BUDGET.table.blocks,
      BUDGET.table.chars,
    );
    blocks.push(...table.blocks);
    listed = Math.min(sorted.length, MAX_TABLE_ROWS) - table.omitted;
    const notListed = sorted.slice(listed);
    if (notListed.length > 0) {
      const byGroup = new Map<string, number>();
      for (const m of notListed) {
        const group = `${m.state} (${m.strategy})`;
        byGroup.set(group, (byGroup.get(group) ?? 0) + 1);
      }
      blocks.push(
        context(
          `${plural(notListed.length, 'more VM')} not in the table: ${[...byGroup].map(([g, n]) => `${n} ${g}`).join(', ')}; the thread has the whole table`,
        ),
      );
    }
  }

  const failures = failureLines(pm);
  if (failures.length > 0) blocks.push(divider());
  part(blocks, `What did not move (${failures.length})`, failures, BUDGET.failures, 'VMs that did not move');

  const approvals = approvalLines(pm, options);
  if (approvals.length > 0) blocks.push(divider());
  part(blocks, `Approvals (${approvals.length})`, approvals, BUDGET.approvals, 'approvals');

  if (pm.audit) {
    const { done, refused } = pm.audit;
    blocks.push(divider());
    const lines = refused.map(
      (r) =>
        `⛔ ${clockTime(r.at, options.timezone)} ${who(r.who)} ${escapeMrkdwn(r.action)} ${code(r.target)} — refused: ${escapeMrkdwn(r.why)}`,
    );
    const head = `${plural(done, 'action')} done, ${refused.length} refused · all of it: ${code(`${options.command ?? DEFAULT_COMMAND} audit ${pm.evacuationId}`)}`;
    part(blocks, 'Audit', [head, ...lines], BUDGET.audit, 'refusals');
  }

  blocks.push(divider());
  const recommendations =
    pm.recommendations.length > 0
      ? [...new Set(pm.recommendations)].map(
          (r) => `• ${escapeMrkdwn(withCommand(r, options.command ?? DEFAULT_COMMAND))}`,
        )
      : ['• Nothing to change: every VM that could move did, as planned.'];
  part(blocks, 'Recommendations', recommendations, BUDGET.recommendations, 'recommendations');

  blocks.push(
    context(
      `${code(pm.evacuationId)} · again any time: ${code(`${options.command ?? DEFAULT_COMMAND} report ${pm.evacuationId}`)}`,
    ),
  );

  const moved = pm.migrations.filter((m) => m.state === 'completed').length;
  const fallback = `${escapeMrkdwn(title)}: ${moved} of ${plural(pm.migrations.length, 'VM')} moved${pm.durationMs !== undefined ? ` in ${duration(pm.durationMs)}` : ''}`;
  return { message: message(fallback, blocks), thread: listed < sorted.length ? tablePages(sorted) : [] };
}

/** The whole per-VM table as thread replies, each a message well inside Slack's limits. */
function tablePages(sorted: MigrationFacts[]): Message[] {
  const rows = sorted.map(tableRow);
  const pages: Message[] = [];
  for (let from = 0; from < rows.length; ) {
    const table = tableBlocks(rows.slice(from), PAGE.blocks, PAGE.chars);
    const shown = rows.length - from - table.omitted;
    if (shown === 0) break; // cannot happen: cells are clipped, so a row always fits a page
    const text = `Every VM, ${from + 1}–${from + shown} of ${rows.length}`;
    pages.push(message(text, [context(text), ...table.blocks]));
    from += shown;
  }
  return pages;
}

/** The post-mortem straight from an evacuation's event stream. */
export function reportView(
  events: readonly FerryEvent[],
  options: PostMortemViewOptions,
  audit?: readonly AuditEntry[],
): PostMortemView {
  return postMortemView(postMortem(events, audit), options);
}

/** The post-mortem message straight from an evacuation's event stream. */
export function reportMessage(events: readonly FerryEvent[], options: PostMortemViewOptions): Message {
  return reportView(events, options).message;
}
