import { pino } from 'pino';
import { redact } from './redact.js';

/**
 * ferry's logging: every part logs through a `Log`, a line with optional fields (which
 * evacuation, which migration, how bad). A plain `(line) => void` is a Log too (tests, hosts that
 * want text). `structuredLog` turns a pino-style logger into a Log that writes one JSON object
 * a line, with the ids as fields and every credential redacted (redact.ts), in the message and
 * in every string field.
 */

export interface LogFields {
  evacuationId?: string;
  migrationId?: string;
  /** `info` when absent; `warn` for what an operator should look at, `error` for what broke. */
  level?: 'info' | 'warn' | 'error';
  [field: string]: unknown;
}

export type Log = (line: string, fields?: LogFields) => void;

/** What ferry needs of a logger: pino's, or any with the same three methods (bunyan, a host's). */
export interface StructuredLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A migration's id is `<evacuationId>:<instance>` (instance names have no colon). */
function evacuationOf(migrationId: string): string {
  const colon = migrationId.lastIndexOf(':');
  return colon > 0 ? migrationId.slice(0, colon) : migrationId;
}

/** Every string in `fields`, redacted; nested objects too (a cause's message may quote a URL). */
function redactFields(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactFields(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactFields(v, depth + 1)]));
}

/** A Log writing to `logger`: the ids as fields (a migration's evacuation derived), credentials redacted. */
export function structuredLog(logger: StructuredLogger): Log {
  return (line, fields = {}) => {
    const { level = 'info', ...rest } = fields;
    const ids =
      rest.migrationId !== undefined && rest.evacuationId === undefined
        ? { evacuationId: evacuationOf(rest.migrationId) }
        : {};
    logger[level](redactFields({ ...ids, ...rest }) as object, redact(line));
  };
}

/**
 * ferry's own JSON logger for its programs (ferry-bot, ferry-worker): pino on stderr (or
 * `destination`), `name` naming the program; pino's own redaction covers fields called like
 * credentials whatever their value.
 */
export function jsonLogger(name: string, destination?: NodeJS.WritableStream) {
  return pino(
    {
      name,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'token', 'secret', '*.password', '*.token', '*.secret'], censor: '***' },
    },
    (destination ?? process.stderr) as pino.DestinationStream,
  );
}
