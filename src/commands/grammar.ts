import { TZDate } from '@date-fns/tz';
import { z } from 'zod';
import { ID_PATTERN, NAME_PATTERN } from '../engine/model.js';
import type { Schedule } from '../engine/ports.js';
import { DEFAULT_COMMAND, TIME_HELP, USAGE, VERBS, type Verb } from '../views/usage.js';

/**
 * The `/ferry` grammar: text from Slack in, a typed Command (or a message showing the right usage)
 * out. Pure: the current time and the operator's zone are passed in for `at TIME` and `in DURATION`.
 */

export type Command =
  | { name: 'help'; topic?: Verb }
  | { name: 'hosts'; filter?: string }
  | { name: 'windows' }
  | { name: 'plan'; host: string; window?: string }
  | { name: 'evacuate'; host: string; when: Schedule; reason?: string }
  | { name: 'migrate'; instance: string; to?: string; reason?: string }
  | { name: 'campaign'; hosts: string[]; when: Schedule; reason?: string }
  | { name: 'reschedule'; id: string; when: Schedule }
  | { name: 'status' | 'audit'; id?: string }
  | { name: 'pause' | 'resume' | 'abort' | 'report'; id: string }
  | { name: 'recover'; id: string }
  | { name: 'maintenance'; answer: 'done' | 'retry'; id: string };

export type CommandName = Command['name'];
export type { Verb };

export type ParseResult = { ok: true; command: Command } | { ok: false; error: string; usage: string };

export interface ParseContext {
  now: number;
  /** IANA zone for `at TIME`. */
  timezone: string;
  /** The command as users type it, for usage lines (default `/ferry`; `/ops ferry` in a host bot). */
  command?: string;
}

/** Longest command text considered; Slack allows more, nobody types more. */
export const MAX_TEXT = 600;
const MAX_REASON = 300;

const name = z.string().regex(NAME_PATTERN, 'a name of letters, digits, ".", "_" or "-"');
const id = z.string().regex(ID_PATTERN, 'an id such as evac-cmp-042-20261124T0200');
const filter = z
  .string()
  .regex(/^[A-Za-z0-9*:=._-]{1,63}$/, 'letters, digits, "*", ":", "=", ".", "_" or "-"');
const reason = z.string().max(MAX_REASON, `a reason of at most ${MAX_REASON} characters`).optional();
const schedule: z.ZodType<Schedule> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('now') }),
  z.object({ kind: z.literal('at'), at: z.number().int() }),
  z.object({
    kind: z.literal('in'),
    ms: z
      .number()
      .int()
      .positive()
      .max(30 * 24 * 3600_000, 'at most 30 days'),
  }),
  z.object({ kind: z.literal('window'), name }),
]);

const commandSchema: z.ZodType<Command> = z.discriminatedUnion('name', [
  z.strictObject({ name: z.literal('help'), topic: z.enum(VERBS).optional() }),
  z.strictObject({ name: z.literal('hosts'), filter: filter.optional() }),
  z.strictObject({ name: z.literal('windows') }),
  z.strictObject({ name: z.literal('plan'), host: name, window: name.optional() }),
  z.strictObject({ name: z.literal('evacuate'), host: name, when: schedule, reason }),
  z.strictObject({ name: z.literal('migrate'), instance: name, to: name.optional(), reason }),
  z.strictObject({
    name: z.literal('campaign'),
    hosts: z.array(name).min(1).max(50, 'at most 50 hosts'),
    when: schedule,
    reason,
  }),
  z.strictObject({ name: z.literal('reschedule'), id, when: schedule }),
  z.strictObject({ name: z.enum(['status', 'audit']), id: id.optional() }),
  z.strictObject({ name: z.enum(['pause', 'resume', 'abort', 'report']), id }),
  z.strictObject({ name: z.literal('recover'), id }),
  z.strictObject({ name: z.literal('maintenance'), answer: z.enum(['done', 'retry']), id }),
]);

/** Splits on whitespace; Slack HTML-escapes &, < and > in command text, so undo that first. */
export function tokenize(text: string): string[] {
  return text
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
    .trim()
    .split(/\s+/)
    .filter((t) => t.length > 0);
}

/** Parses `/ferry` text into a Command, or an error that says what was expected. */
export function parseCommand(text: string, context: ParseContext): ParseResult {
  const command = context.command ?? DEFAULT_COMMAND;
  if (text.length > MAX_TEXT)
    return failure(`that is ${text.length} characters; ferry reads at most ${MAX_TEXT}`, command);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(text))
    return failure('the text contains control characters', command);
  const tokens = tokenize(text);
  const verb = tokens[0]?.toLowerCase();
  if (verb === undefined) return { ok: true, command: { name: 'help' } };
  const fail = (error: string, verb?: Verb) => failure(error, context.command ?? DEFAULT_COMMAND, verb);
  if (!isVerb(verb)) return fail(`"${clip(tokens[0]!)}" is not a ferry command`);
  const args = tokens.slice(1);
  const raw = buildRaw(verb, args, context);
  if (typeof raw === 'string') return fail(raw, verb);
  const parsed = commandSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.filter((p) => typeof p === 'string').join(' ');
    return fail(`${where ? `${where}: ` : ''}expected ${issue.message}`, verb);
  }
  return { ok: true, command: parsed.data };
}

function isVerb(word: string): word is Verb {
  return (VERBS as string[]).includes(word);
}

function failure(error: string, command: string, verb?: Verb): ParseResult {
  return { ok: false, error, usage: verb ? `${command} ${USAGE[verb]}` : allUsage(command) };
}

/** Every command's usage, one a line. */
export function allUsage(command = DEFAULT_COMMAND): string {
  return VERBS.map((v) => `${command} ${USAGE[v]}`).join('\n');
}

/** Echoes user input back safely: short, and without Slack's mention or link syntax. */
function clip(word: string): string {
  const plain = word.replace(/[<>&*_~`]/g, '');
  return plain.length > 40 ? `${plain.slice(0, 40)}…` : plain;
}

/** Turns tokens into the raw shape zod checks, or a message naming what is missing or extra. */
function buildRaw(verb: Verb, args: string[], context: ParseContext): unknown {
  const joined = (rest: string[]) => (rest.length > 0 ? rest.join(' ') : undefined);
  switch (verb) {
    case 'help':
      if (args.length > 1) return 'help takes at most one command name';
      if (args[0] !== undefined && !isVerb(args[0].toLowerCase()))
        return `"${clip(args[0])}" is not a ferry command`;
      return { name: verb, topic: args[0]?.toLowerCase() };
    case 'hosts':
      if (args.length > 1) return 'hosts takes at most one filter';
      return { name: verb, filter: args[0] };
    case 'windows':
      if (args.length > 0) return 'windows takes nothing more';
      return { name: verb };
    case 'plan': {
      if (args.length === 0) return 'which host? plan needs a HOST';
      const [host, word, windowName, ...extra] = args;
      if (word === undefined) return { name: verb, host };
      if (word.toLowerCase() !== 'window' || windowName === undefined || extra.length > 0)
        return 'after HOST, plan only takes "window NAME"';
      return { name: verb, host, window: windowName };
    }
    case 'evacuate': {
      if (args.length === 0) return 'which host? evacuate needs a HOST';
      const when = parseWhen(args.slice(1), context);
      if (typeof when === 'string') return when;
      return { name: verb, host: args[0], when: when.schedule, reason: joined(when.rest) };
    }
    case 'campaign': {
      if (args.length === 0) return 'which hosts? campaign needs HOST,HOST,...';
      const when = parseWhen(args.slice(1), context);
      if (typeof when === 'string') return when;
      const hosts = args[0]!.split(',').filter((h) => h.length > 0);
      if (new Set(hosts).size !== hosts.length) return 'a host is listed twice';
      return { name: verb, hosts, when: when.schedule, reason: joined(when.rest) };
    }
    case 'migrate': {
      if (args.length === 0) return 'which VM? migrate needs a VM';
      const [instance, word, target, ...rest] = args;
      if (word?.toLowerCase() === 'to') {
        if (target === undefined) return 'migrate VM to HOST: the HOST is missing';
        return { name: verb, instance, to: target, reason: joined(rest) };
      }
      return { name: verb, instance, reason: joined(args.slice(1)) };
    }
    case 'reschedule': {
      if (args.length === 0) return 'which evacuation? reschedule needs an ID';
      const when = parseWhen(args.slice(1), context);
      if (typeof when === 'string') return when;
      if (args.length === 1)
        return 'reschedule ID needs a new time: now, at TIME, in DURATION or window NAME';
      if (when.rest.length > 0) return 'after the new time, reschedule takes nothing more';
      return { name: verb, id: args[0], when: when.schedule };
    }
    case 'status':
    case 'audit':
      if (args.length > 1) return `${verb} takes at most one ID`;
      return { name: verb, id: args[0] };
    case 'pause':
    case 'resume':
    case 'abort':
    case 'report':
      if (args.length !== 1) return `${verb} needs exactly one evacuation ID`;
      return { name: verb, id: args[0] };
    case 'recover':
      if (args.length !== 1)
        return 'recover needs exactly one migration ID (EVACUATION:VM, as the notice names it)';
      return { name: verb, id: args[0] };
    case 'maintenance': {
      const answer = args[0]?.toLowerCase();
      if ((answer !== 'done' && answer !== 'retry') || args.length !== 2)
        return 'maintenance takes "done ID" (it was done) or "retry ID" (run it again)';
      return { name: verb, answer, id: args[1] };
    }
  }
}

/** `now | at TIME | in DURATION | window NAME` at the front of `args`; the rest is the reason. */
function parseWhen(args: string[], context: ParseContext): { schedule: unknown; rest: string[] } | string {
  const word = args[0]?.toLowerCase();
  switch (word) {
    case 'now':
      return { schedule: { kind: 'now' }, rest: args.slice(1) };
    case 'at': {
      const date = args[1];
      if (date === undefined) return `"at" needs a TIME. ${TIME_HELP}`;
      // "at 2026-11-25 02:00" is two tokens; "at 2026-11-25T02:00" and "at 02:00" one.
      if (/^\d{4}-\d{2}-\d{2}$/.test(date) && args[2] !== undefined && /^\d{1,2}:\d{2}$/.test(args[2])) {
        const at = parseTime(`${date}T${args[2]}`, context);
        return typeof at === 'string' ? at : { schedule: { kind: 'at', at }, rest: args.slice(3) };
      }
      const at = parseTime(date, context);
      return typeof at === 'string' ? at : { schedule: { kind: 'at', at }, rest: args.slice(2) };
    }
    case 'in': {
      const text = args[1];
      const ms = text === undefined ? undefined : parseDuration(text);
      if (ms === undefined) return `"in" needs a DURATION. ${TIME_HELP}`;
      return { schedule: { kind: 'in', ms }, rest: args.slice(2) };
    }
    case 'window': {
      const windowName = args[1];
      if (windowName === undefined) return '"window" needs the NAME of a configured maintenance window';
      return { schedule: { kind: 'window', name: windowName }, rest: args.slice(2) };
    }
    default:
      return { schedule: { kind: 'now' }, rest: args };
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `90s`, `45m`, `2h`, `1h30m`, `1d` → ms; undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(?:\d{1,5}[smhd])+$/i.exec(text);
  if (!match) return undefined;
  let ms = 0;
  for (const part of text.toLowerCase().matchAll(/(\d{1,5})([smhd])/g)) {
    ms += Number(part[1]) * UNIT_MS[part[2]!]!;
  }
  return ms > 0 ? ms : undefined;
}

/** `HH:MM` (the next such time) or `YYYY-MM-DDTHH:MM`, wall time in the context's zone → epoch ms. */
export function parseTime(text: string, context: ParseContext): number | string {
  const full = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2})$/.exec(text);
  const short = /^(\d{1,2}):(\d{2})$/.exec(text);
  if (!full && !short) return `"${clip(text)}" is not a time. ${TIME_HELP}`;
  const [hour, minute] = full ? [Number(full[4]), Number(full[5])] : [Number(short![1]), Number(short![2])];
  if (hour > 23 || minute > 59) return `"${clip(text)}" is not a time of day. ${TIME_HELP}`;
  if (full) {
    const [year, month, day] = [Number(full[1]), Number(full[2]) - 1, Number(full[3])];
    const at = new TZDate(year, month, day, hour, minute, context.timezone);
    if (at.getMonth() !== month || at.getDate() !== day) return `"${clip(text)}" is not a date`;
    if (at.getTime() <= context.now) return `${clip(text)} is in the past`;
    return at.getTime();
  }
  const today = new TZDate(context.now, context.timezone);
  const at = new TZDate(
    today.getFullYear(),
    today.getMonth(),
    today.getDate(),
    hour,
    minute,
    context.timezone,
  );
  if (at.getTime() <= context.now) at.setDate(at.getDate() + 1);
  return at.getTime();
}
