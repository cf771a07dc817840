import type { AuditEntry } from '../engine/ports.js';
import {
  type Block,
  code,
  context,
  divider,
  escapeMrkdwn,
  header,
  type Message,
  message,
  packLines,
} from './blocks.js';
import { clockTime, plural, who } from './format.js';

/**
 * `/ferry audit [ID]`: what was done and, apart, every refused attempt (who, what, why), in the
 * order they were written. When there are more than a message holds, the latest are shown and
 * the rest counted.
 */

/** Blocks and characters for each of the two lists, well inside one message's limits. */
const BUDGET = { blocks: 10, chars: 5200 } as const;

export interface AuditViewOptions {
  timezone: string;
  /** The evacuation, migration or campaign asked about; absent: the whole deployment. */
  id?: string;
}

function line(entry: AuditEntry, timezone: string): string {
  const at = clockTime(entry.at, timezone);
  const what = `${who(entry.who)} ${escapeMrkdwn(entry.action)} ${code(entry.target)}`;
  if (entry.refused !== undefined) return `${at} ⛔ ${what} — refused: ${escapeMrkdwn(entry.refused)}`;
  const detail = entry.detail ? ` — ${escapeMrkdwn(entry.detail)}` : '';
  return `${at} ✅ ${what}${detail} (${escapeMrkdwn(entry.via)})`;
}

/** The latest lines that fit the budget, kept in their order; how many earlier ones did not. */
function latest(lines: string[], title: string): { blocks: Block[]; omitted: number } {
  const fit = lines.length - packLines([title, ...[...lines].reverse()], BUDGET.blocks, BUDGET.chars).omitted;
  return {
    ...packLines([title, ...lines.slice(lines.length - fit)], BUDGET.blocks, BUDGET.chars),
    omitted: lines.length - fit,
  };
}

export function auditMessage(entries: readonly AuditEntry[], options: AuditViewOptions): Message {
  const title = options.id ? `Audit: ${options.id}` : 'Audit';
  const done = entries.filter((e) => e.refused === undefined).map((e) => line(e, options.timezone));
  const refused = entries.filter((e) => e.refused !== undefined).map((e) => line(e, options.timezone));
  const blocks: Block[] = [header(title)];
  if (entries.length === 0) blocks.push(context('Nothing recorded yet.'));
  for (const [name, lines] of [
    [`Done (${done.length})`, done],
    [`Refused (${refused.length})`, refused],
  ] as const) {
    if (lines.length === 0) continue;
    blocks.push(divider());
    const packed = latest(lines, `*${name}*`);
    if (packed.omitted > 0)
      blocks.push(
        context(`${packed.omitted} earlier ${packed.omitted === 1 ? 'entry' : 'entries'} not shown`),
      );
    blocks.push(...packed.blocks);
  }
  return message(
    `${escapeMrkdwn(title)}: ${plural(done.length, 'action')} done, ${refused.length} refused`,
    blocks,
  );
}
