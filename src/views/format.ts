import { TZDate } from '@date-fns/tz';
import { format } from 'date-fns';
import { formatBytes } from '../engine/words.js';
import { escapeMrkdwn } from './blocks.js';
import { DEFAULT_COMMAND } from './usage.js';

/** Formatting shared by every view: sizes, durations, rates, bars and times in the operator's zone. */

/** 8 GiB, 512 MiB, 900 KiB: the engine's own words for sizes. */
export const bytes = (n: number): string => formatBytes(n);

/** 900 MiB/s. */
export function rate(bytesPerS: number): string {
  return `${bytes(bytesPerS)}/s`;
}

/** 40 ms, 2.3 s, 4m 10s, 2h 05m. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${round(ms / 1000)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A ten-cell bar for a fraction in [0, 1]. */
export function bar(fraction: number, cells = 10): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * cells);
  return `${'█'.repeat(full)}${'░'.repeat(cells - full)}`;
}

export function percent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

/** `2026-11-24 02:00 Europe/London`. */
export function time(at: number, timezone: string): string {
  return `${format(new TZDate(at, timezone), 'yyyy-MM-dd HH:mm')} ${timezone}`;
}

/** `02:00:13`, for thread lines. */
export function clockTime(at: number, timezone: string): string {
  return format(new TZDate(at, timezone), 'HH:mm:ss');
}

/** A Slack mention for user ids; `system`, `cli` and anything else stay (escaped) words. */
export function who(user: string): string {
  return /^[UW][A-Z0-9]+$/.test(user) ? `<@${user}>` : escapeMrkdwn(user);
}

/** Mentions of users and user groups (`<@U…>`, `<!subteam^S…>`), space-separated; empty for none. */
export function mentions(ids: readonly string[] | undefined): string {
  return (ids ?? []).map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`)).join(' ');
}

function round(x: number): string {
  return x >= 100 ? String(Math.round(x)) : String(Math.round(x * 10) / 10);
}

/** `1 VM`, `3 VMs`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * The engine's messages name the command as `/ferry`; a host bot's users type another one
 * (`/ops ferry`), so the Slack surface says it their way.
 */
export function withCommand(text: string, command: string): string {
  return command === DEFAULT_COMMAND ? text : text.replace(/(^|[\s(“"'])\/ferry(?=\s|$)/g, `$1${command}`);
}
