import { slackConfigSchema } from './commands/config.js';
import { createStandaloneBot, slackTokens } from './commands/standalone.js';
import { loadConfig } from './engine/compose.js';
import { parseSection } from './engine/config.js';
import { ConfigError } from './engine/errors.js';
import type { Log } from './engine/log.js';
import { connect, redisConfigSchema } from './engine/store/redis/index.js';
import { isEntry, programArgs, runMain, serveProgramMetrics } from './entry.js';

/**
 * The standalone bot, `ferry-bot --config ferry.yaml` (or `npm run bot -- --config FILE`, or
 * `npx tsx src/main.ts --config FILE`; FERRY_CONFIG works too): a Bolt app that mounts ferry and
 * nothing else. Tokens come from the environment (SLACK_BOT_TOKEN, and SLACK_APP_TOKEN for
 * Socket Mode or SLACK_SIGNING_SECRET for HTTP mode), a `_FILE` each names, or the `slack:`
 * section (secrets.ts), Redis from --redis, REDIS_URL or the
 * config's `redis:` section (FERRY_REDIS_URL). SLACK_API_URL points at another Slack API host.
 * Stops cleanly on SIGINT / SIGTERM; a wrong token or an unreachable Redis is one line and exit 1.
 */

const USAGE =
  'usage: ferry-bot --config FILE [--redis redis://HOST:PORT] [--no-worker] [--metrics-port N]  (or FERRY_CONFIG, REDIS_URL)';

/**
 * Loads the config and starts the Slack app with ferry mounted (its engine and worker inside;
 * with `--no-worker` no worker and no driver: ferry-worker processes run evacuations).
 */
export async function startBot(
  argv: string[],
  env: NodeJS.ProcessEnv,
  log: Log,
): Promise<{ stop(): Promise<void>; metricsPort?: number }> {
  const args = programArgs(argv, env, USAGE, { noWorker: true });
  const path = args.config;
  const config = loadConfig(path);
  if (!config.slack)
    throw new ConfigError(`${path} has no slack: section; the bot needs one (see README, "Slack app")`);
  const slack = parseSection(slackConfigSchema, config.slack, path, 'slack');
  const tokens = slackTokens(env, slack);
  const url = args.redis;
  const redisConfig = redisConfigSchema.parse({ ...config.redis, ...(url ? { url } : {}) });
  // Sentinel, Cluster and a password apart from the URL need a client (ferry opens its own
  // duplicate of it); a URL is enough otherwise, and ferry connects only after Slack accepted the token.
  const client =
    redisConfig.sentinels || redisConfig.cluster || redisConfig.password
      ? connect(redisConfig, { log })
      : undefined;
  const redis = client ?? redisConfig.url;
  try {
    const bot = await createStandaloneBot({
      config: { ...config, redis: redisConfig },
      slack,
      tokens,
      redis,
      worker: args.worker,
      // Another Slack API host, e.g. GovSlack's https://slack-gov.com/api/.
      slackApiUrl: env.SLACK_API_URL,
      log,
    });
    const metrics = await serveProgramMetrics(bot.ferry.metrics, config.metrics, args, log).catch(
      async (err: unknown) => {
        await bot.stop();
        throw err;
      },
    );
    const { port } = await bot.start();
    log(
      `running: ${
        args.worker
          ? `${config.fleet.driver} driver, durable engine with a worker`
          : 'durable engine without a worker (evacuations run in ferry-worker processes)'
      }, Slack ${slack.mode} mode` +
        (port !== undefined ? ` on port ${port}` : '') +
        (metrics.port !== undefined ? `, metrics on port ${metrics.port}` : ''),
    );
    return {
      metricsPort: metrics.port,
      async stop() {
        await metrics.close();
        await bot.stop();
        client?.disconnect();
      },
    };
  } catch (err) {
    client?.disconnect();
    throw err;
  }
}

if (isEntry(import.meta.url)) runMain(startBot, 'ferry-bot');
