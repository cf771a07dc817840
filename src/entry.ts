import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Registry } from 'prom-client';
import { ConfigError, toFerryError } from './engine/errors.js';
import { jsonLogger, type Log, structuredLog } from './engine/log.js';
import { addProcessMetrics, type MetricsConfig, serveMetrics } from './engine/metrics.js';
import { redact } from './engine/redact.js';

/** What the bot and the worker share as programs: "am I the entry point", and running until a signal. */

/** True when the module at `url` is the program node was started with (not imported by a test). */
export function isEntry(url: string): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(url));
  } catch {
    return false;
  }
}

/**
 * Starts a long-running program, stops it cleanly on SIGINT / SIGTERM, and turns a failure to
 * start into one line on stderr: exit 2 for a bad config or arguments, 1 for anything else.
 * While it runs, it logs JSON lines on stderr (pino, named `name`, credentials redacted); the
 * failure to start stays one plain line, for the person who just typed the command.
 */
export function runMain(
  start: (argv: string[], env: NodeJS.ProcessEnv, log: Log) => Promise<{ stop(): Promise<void> }>,
  name = 'ferry',
): void {
  const log = structuredLog(jsonLogger(name));
  start(process.argv.slice(2), process.env, log).then(
    (running) => {
      const shutdown = (signal: string) => {
        log(`${signal}: stopping`);
        running.stop().then(
          () => process.exit(0),
          (err) => {
            log(`stopping failed: ${toFerryError(err).message}`, { level: 'error' });
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    },
    (err) => {
      const error = toFerryError(err);
      // Whatever the message quotes (URLs, replies), no credential reaches the terminal.
      console.error(
        `ferry: ${redact(
          error.code === 'INTERNAL'
            ? err instanceof Error
              ? (err.stack ?? err.message)
              : String(err)
            : error.userMessage,
        )}`,
      );
      process.exit(error.code === 'CONFIG_INVALID' ? 2 : 1);
    },
  );
}

/**
 * What the bot and the worker take: `--config FILE` (or FERRY_CONFIG), `--redis URL`, `--name
 * NAME`, `--metrics-port N` (FERRY_METRICS_PORT); the bot also `--no-worker`.
 */
export interface ProgramArgs {
  config: string;
  redis?: string;
  name?: string;
  /** False with `--no-worker`: the bot runs no worker (and builds no driver); ferry-worker does. */
  worker: boolean;
  /** Where /metrics is served; 0 picks a free port. The config's `metrics.port` otherwise. */
  metricsPort?: number;
}

/** Parses a program's arguments; a ConfigError (exit 2) with `usage` for anything unexpected or missing. */
export function programArgs(
  argv: string[],
  env: NodeJS.ProcessEnv,
  usage: string,
  accepts: { noWorker?: boolean } = {},
): ProgramArgs {
  let values: {
    config?: string;
    redis?: string;
    name?: string;
    help?: boolean;
    'no-worker'?: boolean;
    'metrics-port'?: string;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        redis: { type: 'string' },
        name: { type: 'string' },
        'metrics-port': { type: 'string' },
        help: { type: 'boolean' },
        'no-worker': { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new ConfigError(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
  if (values.help) throw new ConfigError(usage);
  // ferry-worker is the worker: only the bot can do without one.
  if (values['no-worker'] && !accepts.noWorker) throw new ConfigError(`unknown option --no-worker\n${usage}`);
  const config = values.config ?? env.FERRY_CONFIG;
  if (!config) throw new ConfigError(`no config file: pass --config FILE or set FERRY_CONFIG\n${usage}`);
  const port = values['metrics-port'] ?? env.FERRY_METRICS_PORT;
  const metricsPort = port === undefined || port === '' ? undefined : Number(port);
  if (
    metricsPort !== undefined &&
    !(Number.isInteger(metricsPort) && metricsPort >= 0 && metricsPort <= 65535)
  )
    throw new ConfigError(`--metrics-port: "${port}" is not a port (0-65535)\n${usage}`);
  return {
    config,
    redis: values.redis ?? env.REDIS_URL,
    name: values.name,
    worker: !values['no-worker'],
    metricsPort,
  };
}

/**
 * Serves a program's metrics (with process metrics added) where `--metrics-port` or the config's
 * `metrics:` section says; nothing when neither does. Resolves with the port, for the log line.
 */
export async function serveProgramMetrics(
  registry: Registry,
  config: MetricsConfig | undefined,
  args: Pick<ProgramArgs, 'metricsPort'>,
  log: Log,
): Promise<{ port?: number; close(): Promise<void> }> {
  const port = args.metricsPort ?? config?.port;
  if (port === undefined) return { close: async () => {} };
  addProcessMetrics(registry);
  return serveMetrics(registry, { port, host: config?.host, log });
}
