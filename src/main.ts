import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createFerryApp, tokensFromEnv } from './commands/app.js';
import { slackConfigSchema } from './commands/config.js';
import { systemClock } from './engine/clock.js';
import { createBotEngine, createDriver, loadConfig } from './engine/compose.js';
import { parseSection } from './engine/config.js';
import { ConfigError, toFerryError } from './engine/errors.js';
import { connect, redisConfigSchema } from './engine/store/redis/index.js';

/**
 * The bot: `tsx src/main.ts --config ferry.yaml` (or FERRY_CONFIG). Tokens come from the
 * environment (SLACK_BOT_TOKEN, and SLACK_APP_TOKEN for Socket Mode or SLACK_SIGNING_SECRET for
 * HTTP mode), Redis from --redis, REDIS_URL or the config's `redis:` section (FERRY_REDIS_URL).
 * SLACK_API_URL points at another Slack API host. Stops cleanly on SIGINT / SIGTERM.
 */

const USAGE = 'usage: ferry-bot --config FILE [--redis redis://HOST:PORT]  (or FERRY_CONFIG, REDIS_URL)';

export interface RunningBot {
  stop(): Promise<void>;
}

/** Loads the config, builds the driver and engine, and starts the Slack app. */
export async function startBot(
  argv: string[],
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<RunningBot> {
  let values: { config?: string; redis?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, redis: { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (err) {
    throw new ConfigError(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  if (values.help) throw new ConfigError(USAGE);
  const path = values.config ?? env.FERRY_CONFIG;
  if (!path) throw new ConfigError(`no config file: pass --config FILE or set FERRY_CONFIG\n${USAGE}`);
  const config = loadConfig(path);
  if (!config.slack)
    throw new ConfigError(`${path} has no slack: section; the bot needs one (see README, "Slack app")`);
  const slack = parseSection(slackConfigSchema, config.slack, path, 'slack');
  const tokens = tokensFromEnv(env, slack.mode);
  const url = values.redis ?? env.REDIS_URL;
  const redisConfig = redisConfigSchema.parse({ ...config.redis, ...(url ? { url } : {}) });
  const redis = connect(redisConfig, { log });
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('no answer within 10 s')), 10_000).unref(),
      ),
    ]);
  } catch (err) {
    redis.disconnect();
    throw new ConfigError(`cannot reach Redis at ${redisConfig.url}: ${toFerryError(err).message}`);
  }
  const driver = createDriver(config, systemClock);
  const engine = createBotEngine({
    config: { ...config, redis: redisConfig },
    driver,
    clock: systemClock,
    redis,
    log,
  });
  const ferry = createFerryApp({
    slack,
    tokens,
    service: engine.service,
    redis,
    timezone: config.timezone,
    maintenance: config.maintenance.command !== undefined,
    // Another Slack API host, e.g. GovSlack's https://slack-gov.com/api/.
    slackApiUrl: env.SLACK_API_URL,
    log,
  });
  engine.startWorker();
  const { port } = await ferry.start();
  log(
    `running: ${config.fleet.driver} driver, ${engine.kind} engine, Slack ${slack.mode} mode` +
      (port !== undefined ? ` on port ${port}` : ''),
  );
  return {
    async stop() {
      await ferry.stop();
      await engine.close();
      await driver.close();
      redis.disconnect();
    },
  };
}

function isEntry(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const log = (line: string) => console.error(`ferry: ${line}`);
  startBot(process.argv.slice(2), process.env, log).then(
    (bot) => {
      const shutdown = (signal: string) => {
        log(`${signal}: stopping`);
        bot.stop().then(
          () => process.exit(0),
          (err) => {
            log(`stopping failed: ${toFerryError(err).message}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => shutdown('SIGINT'));
      process.once('SIGTERM', () => shutdown('SIGTERM'));
    },
    (err) => {
      const error = toFerryError(err);
      log(
        error.code === 'INTERNAL'
          ? err instanceof Error
            ? (err.stack ?? err.message)
            : String(err)
          : error.userMessage,
      );
      process.exit(error.code === 'CONFIG_INVALID' ? 2 : 1);
    },
  );
}
