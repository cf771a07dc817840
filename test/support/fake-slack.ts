import { Redis } from 'ioredis';
import { type SlackConfig, slackConfigSchema } from '../../src/commands/config.js';
import { createStandaloneBot, type StandaloneBot } from '../../src/commands/standalone.js';
import { SlackStandin } from '../../src/demo/slack-standin.js';
import type { FerryEvent } from '../../src/engine/model.js';
import type { FerryService } from '../../src/engine/ports.js';
import type { RedisClient } from '../../src/engine/store/redis/index.js';
import type { PostMortemView } from '../../src/views/postmortem.js';
import { type RedisServer, startRedis } from './redis.js';

/**
 * The fake Slack is the demo's stand-in (src/demo/slack-standin.ts): one implementation of the
 * wire format, shared. This adds a harness that runs the real Bolt app against it on loopback.
 */
export { BOT_USER, SlackStandin, type StoredMessage } from '../../src/demo/slack-standin.js';

export const USERS = { alice: 'U0ALICE', bob: 'U0BOB', carol: 'U0CAROL', mallory: 'U0MALLORY' } as const;
export const CHANNELS = { ops: 'C0OPS', approvers: 'C0APPROVE' } as const;
export const TOKENS = {
  botToken: 'xoxb-test-bot',
  appToken: 'xapp-test-app',
  signingSecret: 'test-signing-secret',
};

export interface Harness {
  slack: SlackStandin;
  ferry: StandaloneBot;
  /** The redis-server started or shared; absent when a client was given. */
  redis?: RedisServer;
  client: RedisClient;
  stop(): Promise<void>;
}

/**
 * Starts redis-server, the stand-in and the real ferry app in `mode`. Alice and carol are
 * operators (carol through the group S0OPS), bob and carol approvers; mallory is nobody.
 */
export async function startHarness(options: {
  mode: 'socket' | 'http';
  service: FerryService;
  slack?: Partial<SlackConfig>;
  /** The post-mortem view; ferry's own when absent. */
  report?: (events: FerryEvent[]) => PostMortemView;
  now?: () => number;
  /** A Redis to share (a restarted bot); started and stopped with the harness when absent. */
  redis?: RedisServer;
  /** A client to give ferry instead (a Sentinel or Cluster client): no redis-server is started. */
  client?: RedisClient;
  /** A stand-in to share (a restarted bot keeps talking to the same Slack). */
  standin?: SlackStandin;
  /** ferry's log lines; printed with FERRY_TEST_LOG, dropped otherwise, when absent. */
  log?: (line: string) => void;
  /** The bot token's scopes at the stand-in (default: every scope). */
  scopes?: string[];
}): Promise<Harness> {
  const redis = options.client ? options.redis : (options.redis ?? (await startRedis()));
  const client = options.client ?? new Redis(redis!.url, { lazyConnect: false });
  // Tests stop Redis under the bot: its reconnect attempts are expected.
  client.on('error', () => {});
  const slack =
    options.standin ??
    new SlackStandin({ ...TOKENS, groups: { S0OPS: [USERS.carol] }, scopes: options.scopes });
  if (!options.standin) await slack.start();
  const connectionsBefore = slack.connections;
  const config = slackConfigSchema.parse({
    mode: options.mode,
    port: 0,
    operators: [USERS.alice, 'S0OPS'],
    approvers: [USERS.bob, USERS.carol],
    progressChannel: CHANNELS.ops,
    approversChannel: CHANNELS.approvers,
    updateIntervalS: 0.2,
    // The stories and the fuzz send far more than a person would; rate-limit.test.ts tests the limit.
    rateLimit: { burst: 1000, perMinute: 6000 },
    ...options.slack,
  });
  const ferry = await createStandaloneBot({
    slack: config,
    tokens: TOKENS,
    service: options.service,
    redis: client,
    timezone: 'UTC',
    maintenance: false,
    report: options.report,
    now: options.now,
    slackApiUrl: slack.apiUrl,
    pollMs: 50,
    log: options.log ?? (process.env.FERRY_TEST_LOG ? (line) => console.error(`ferry: ${line}`) : () => {}),
  });
  const { port } = await ferry.start();
  if (options.mode === 'http') slack.appUrl = `http://127.0.0.1:${port}/slack/events`;
  else await slack.socketConnected(connectionsBefore + 1);
  return {
    slack,
    ferry,
    redis,
    client,
    async stop() {
      await ferry.stop();
      if (!options.standin) await slack.stop();
      if (!options.client) client.disconnect();
      if (!options.redis) await redis?.stop();
    },
  };
}
