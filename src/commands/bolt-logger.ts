import { inspect } from 'node:util';
import { type Logger, LogLevel } from '@slack/bolt';
import type { Log } from '../engine/log.js';

/**
 * Bolt's and the Web API client's logger, through ferry's Log: their lines (which can quote a
 * request, a URL or a token) come out redacted and structured like ferry's own, marked
 * `component: bolt`. Levels below `level` (warn by default) are dropped, as Bolt's own logger does.
 */

const ORDER = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];

export function boltLogger(log: Log, initial: LogLevel = LogLevel.WARN): Logger {
  let level = initial;
  let name = 'bolt';
  const write = (at: LogLevel, parts: unknown[]) => {
    if (ORDER.indexOf(at) < ORDER.indexOf(level)) return;
    const line = parts
      .map((p) => (typeof p === 'string' ? p : inspect(p, { depth: 3, breakLength: Infinity })))
      .join(' ');
    log(line, {
      component: name,
      level: at === LogLevel.ERROR ? 'error' : at === LogLevel.WARN ? 'warn' : 'info',
    });
  };
  return {
    debug: (...parts) => write(LogLevel.DEBUG, parts),
    info: (...parts) => write(LogLevel.INFO, parts),
    warn: (...parts) => write(LogLevel.WARN, parts),
    error: (...parts) => write(LogLevel.ERROR, parts),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: (next) => {
      name = next;
    },
  };
}
