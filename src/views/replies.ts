import type { Evacuation, Fleet } from '../engine/model.js';
import type { ScheduledWindow } from '../engine/ports.js';
import {
  code,
  context,
  escapeMrkdwn,
  header,
  LIMITS,
  type Message,
  message,
  packLines,
  section,
} from './blocks.js';
import { bytes, plural, rate, time, who } from './format.js';
import { evacuationFraction } from './progress.js';
import { SUMMARY, USAGE, VERBS, type Verb } from './usage.js';

/** Short replies: help, usage errors, refusals, hosts and the list of evacuations. */

/** `help` or the usage of one command; `command` is how users type it (`/ferry`, `/ops ferry`). */
export function helpMessage(topic: Verb | undefined, command: string): Message {
  const verbs = topic ? [topic] : VERBS;
  const lines = verbs.map((v) => `${code(`${command} ${USAGE[v]}`)}\n      ${SUMMARY[v]}`);
  return message(topic ? escapeMrkdwn(`${command} ${USAGE[topic]}`) : 'ferry commands', [
    section(`*ferry* — safe live migration from Slack\n${lines.join('\n')}`),
  ]);
}

/** A command that did not parse: what was wrong, then the right usage. */
export function usageError(error: string, usage: string): Message {
  return message(escapeMrkdwn(`${error}. Usage: ${usage}`), [
    section(`:warning: ${escapeMrkdwn(error)}`),
    section(`Usage:\n\`\`\`${escapeMrkdwn(usage)}\`\`\``),
  ]);
}

/**
 * Something ferry refused or could not do, in the user's words. The text may mention users
 * (`<@U…>`, as `who` writes them); everything else is escaped, so text from a driver or a
 * cloud can neither broadcast (`<!channel>`) nor link.
 */
export function errorMessage(text: string): Message {
  const safe = escapeMrkdwn(text).replace(/&lt;@([UW][A-Z0-9]{2,20})&gt;/g, '<@$1>');
  return message(safe, [section(`:warning: ${safe}`)]);
}

/** A plain acknowledgement or outcome line. */
export function noteMessage(markdown: string): Message {
  return message(markdown, [section(markdown)]);
}

/** Hosts matching a filter (name glob, `label:X`, or substring) with their load. */
export function hostsMessage(fleet: Fleet, filter: string | undefined): Message {
  const hosts = fleet.hosts.filter((h) => matches(filter, h.name, h.labels));
  const lines = hosts.map((h) => {
    const guests = fleet.instances.filter((i) => i.host === h.name);
    const used = guests.reduce((n, i) => n + i.memoryBytes, 0);
    const dirty = guests.reduce((n, i) => n + i.dirtyBytesPerS, 0);
    const state = h.schedulable
      ? '🟢'
      : `🔴 disabled${h.disabledReason ? ` (${escapeMrkdwn(h.disabledReason)})` : ''}`;
    return `${state} ${code(h.name)} ${plural(guests.length, 'VM')} · ${bytes(used)} of ${bytes(h.memoryBytes)} · NIC ${rate(h.nicBytesPerS)} · dirty ${rate(dirty)}${h.labels.length > 0 ? ` · ${h.labels.map(escapeMrkdwn).join(', ')}` : ''}`;
  });
  const packed = packLines(lines, 45, LIMITS.messageText - 500);
  const title = `${hosts.length} of ${fleet.hosts.length} hosts${filter ? ` matching ${filter}` : ''}`;
  return message(escapeMrkdwn(title), [
    header(title),
    ...(lines.length > 0 ? packed.blocks : [section('No host matches.')]),
    ...(packed.omitted > 0 ? [context(`… and ${packed.omitted} more; narrow the filter`)] : []),
  ]);
}

/** `*` globs, `label:NAME`, or a plain substring. */
export function matches(filter: string | undefined, name: string, labels: string[]): boolean {
  if (!filter) return true;
  if (filter.startsWith('label:')) return labels.includes(filter.slice(6));
  if (filter.includes('*')) {
    const pattern = filter.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
    return new RegExp(`^${pattern}$`).test(name);
  }
  return name.includes(filter) || labels.includes(filter);
}

/** The evacuations that are not finished, one line each. */
export function evacuationListMessage(evacuations: Evacuation[], timezone: string): Message {
  if (evacuations.length === 0) return noteMessage('No evacuation is running or scheduled.');
  const lines = evacuations.map((e) => {
    const pct = Math.floor(evacuationFraction(e) * 100);
    const started = e.startedAt ? ` since ${time(e.startedAt, timezone)}` : '';
    return `${code(e.request.id)} ${escapeMrkdwn(e.request.source)}: ${e.state}${started} · ${pct}% · by ${who(e.request.requestedBy)}`;
  });
  const packed = packLines(lines, 45, LIMITS.messageText - 500);
  return message(`${evacuations.length} evacuations`, [
    ...packed.blocks,
    ...(packed.omitted > 0 ? [context(`… and ${packed.omitted} more`)] : []),
  ]);
}

/** One line per maintenance window: its days and hours in its own zone, and its next opening in the operator's. */
export function windowLines(windows: readonly ScheduledWindow[], now: number, timezone: string): string[] {
  return windows.map((w) => {
    const days = w.days.length === 7 ? 'every day' : w.days.map((d) => d.slice(0, 3)).join(', ');
    const when =
      w.next.start <= now
        ? `🟢 open now, until ${time(w.next.end, timezone)}`
        : `next ${time(w.next.start, timezone)} → ${time(w.next.end, timezone)}`;
    return `${code(w.name)} ${days} ${w.start}–${w.end} ${escapeMrkdwn(w.timezone)} · ${when}`;
  });
}

/** `/ferry windows`: the configured maintenance windows. */
export function windowsMessage(
  windows: readonly ScheduledWindow[],
  options: { now: number; timezone: string; command: string },
): Message {
  if (windows.length === 0)
    return noteMessage('No maintenance windows are configured (the config file’s `windows:` section).');
  const packed = packLines(windowLines(windows, options.now, options.timezone), 45, LIMITS.messageText - 500);
  const title = plural(windows.length, 'maintenance window');
  return message(title, [
    header(title),
    ...packed.blocks,
    ...(packed.omitted > 0 ? [context(`… and ${packed.omitted} more`)] : []),
    context(`Drain in one: ${code(`${options.command} evacuate HOST window NAME`)}`),
  ]);
}
