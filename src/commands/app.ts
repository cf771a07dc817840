import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, webApi } from '@slack/bolt';
import type { Cluster, Redis } from 'ioredis';
import { systemClock } from '../engine/clock.js';
import { ConfigError } from '../engine/errors.js';
import type { FerryEvent } from '../engine/model.js';
import type { FerryService } from '../engine/ports.js';
import { type PostMortemView, reportView } from '../views/postmortem.js';
import { ApprovalNotifier } from './approvals.js';
import { CampaignRunner } from './campaign.js';
import type { SlackConfig } from './config.js';
import { type Reply, runAction, runCommand, type SurfaceDeps } from './handlers.js';
import { RedisKeyValueStore } from './kv.js';
import { SlackOutbox } from './outbox.js';
import { ProgressPublisher } from './progress.js';
import { Roles } from './roles.js';

/**
 * The Slack app: Bolt (Socket Mode by default, HTTP with a signing secret as the option) with the
 * `/ferry` command and ferry's buttons, the outbox that paces writes, live progress, approval
 * requests and campaigns, all over one FerryService.
 */

export interface SlackTokens {
  botToken: string;
  /** Socket Mode's app-level token (xapp-…). */
  appToken?: string;
  /** HTTP mode's signing secret. */
  signingSecret?: string;
}

/** Reads SLACK_BOT_TOKEN and, by mode, SLACK_APP_TOKEN or SLACK_SIGNING_SECRET; names what is missing. */
export function tokensFromEnv(env: NodeJS.ProcessEnv, mode: SlackConfig['mode']): SlackTokens {
  const needed = ['SLACK_BOT_TOKEN', mode === 'socket' ? 'SLACK_APP_TOKEN' : 'SLACK_SIGNING_SECRET'];
  const missing = needed.filter((name) => !env[name]);
  if (missing.length > 0)
    throw new ConfigError(`set ${missing.join(' and ')} in the environment (slack.mode is ${mode})`);
  return {
    botToken: env.SLACK_BOT_TOKEN!,
    appToken: env.SLACK_APP_TOKEN,
    signingSecret: env.SLACK_SIGNING_SECRET,
  };
}

export interface FerryAppOptions {
  slack: SlackConfig;
  tokens: SlackTokens;
  service: FerryService;
  /** Where message positions, stream cursors and button nonces are kept. */
  redis: Redis | Cluster;
  timezone: string;
  /** Whether evacuations run the configured maintenance command. */
  maintenance: boolean;
  /** The post-mortem; ferry's own (src/views/postmortem.ts) when absent. */
  report?: (events: FerryEvent[]) => PostMortemView;
  /** Engine time (the simulator's clock in the demo). */
  now?: () => number;
  /** Slack's Web API base URL; a loopback stand-in in tests and the demo. */
  slackApiUrl?: string;
  /** How often event streams are read, ms. */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface FerryApp {
  app: App;
  progress: ProgressPublisher;
  outbox: SlackOutbox;
  /** Starts the receiver and the progress loop; HTTP mode returns the port it listens on. */
  start(): Promise<{ port?: number }>;
  /** Writes what is queued, then stops. */
  stop(): Promise<void>;
}

export function createFerryApp(options: FerryAppOptions): FerryApp {
  const { slack, tokens, service } = options;
  const log = options.log ?? ((line: string) => console.error(`ferry: ${line}`));
  const now = options.now ?? (() => Date.now());
  const report =
    options.report ?? ((events: FerryEvent[]) => reportView(events, { timezone: options.timezone }));
  const clientOptions = options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {};
  const app = new App({
    token: tokens.botToken,
    ...(slack.mode === 'socket'
      ? { socketMode: true, appToken: tokens.appToken }
      : { signingSecret: tokens.signingSecret }),
    clientOptions,
    logLevel: LogLevel.ERROR,
  });
  // A client of its own: rate-limited calls throw instead of pausing Bolt's shared queue.
  const writer = new webApi.WebClient(tokens.botToken, {
    ...clientOptions,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 2, minTimeout: 200, maxTimeout: 1000 },
    logLevel: webApi.LogLevel.ERROR,
  });
  const outbox = new SlackOutbox(writer, {
    minUpdateIntervalMs: slack.updateIntervalS * 1000,
    updatesPerMinute: slack.updatesPerMinute,
    log,
  });
  const kv = new RedisKeyValueStore(options.redis);
  const approvals = new ApprovalNotifier({
    outbox,
    kv,
    channel: slack.approversChannel ?? slack.progressChannel,
    timezone: options.timezone,
  });
  let campaigns: CampaignRunner | undefined;
  const progress = new ProgressPublisher({
    service,
    outbox,
    kv,
    approvals,
    channel: slack.progressChannel,
    timezone: options.timezone,
    now,
    report,
    pollMs: options.pollMs ?? 500,
    onFinished: (id) => campaigns!.next(id),
    log,
  });
  campaigns = new CampaignRunner({ service, kv, follow: (id) => progress.follow(id) });
  const roles = new Roles(
    { operators: slack.operators, approvers: slack.approvers, groupCacheMs: slack.groupCacheS * 1000 },
    {
      members: async (group) => (await app.client.usergroups.users.list({ usergroup: group })).users ?? [],
    },
    systemClock,
  );
  const deps: SurfaceDeps = {
    service,
    roles,
    command: '/ferry',
    timezone: options.timezone,
    now,
    maintenance: options.maintenance,
    claim: (key) => kv.claim(key, String(Date.now())),
    newNonce: () => randomBytes(12).toString('base64url'),
    follow: (id) => progress.follow(id),
    startCampaign: (hosts, when, request) => campaigns!.start(hosts, when, request),
    showDecision: (request, decision) => approvals.decided(request, decision),
    report: (events) => report(events).message,
    progressChannel: slack.progressChannel,
    log,
  };

  const toResponse = (reply: Reply) => ({
    text: reply.message.text,
    blocks: reply.message.blocks,
    response_type: reply.inChannel ? ('in_channel' as const) : ('ephemeral' as const),
    ...(reply.replaceOriginal ? { replace_original: true } : {}),
  });

  app.command('/ferry', async ({ command, ack, respond }) => {
    // Slack wants the ack within 3 s; everything slow comes after it.
    await ack();
    await runCommand({ user: command.user_id, text: command.text ?? '' }, deps, async (reply) => {
      await respond(toResponse(reply)).catch((err) => log(`reply to /ferry failed: ${String(err)}`));
    });
  });

  // Every block action, ferry's or forged: unknown ones are answered, not ignored.
  app.action(/.*/, async ({ ack, body, action, respond }) => {
    await ack();
    const { action_id: actionId, value } = action as { action_id: string; value?: unknown };
    await runAction({ user: body.user.id, actionId, value }, deps, async (reply) => {
      await respond(toResponse(reply)).catch((err) => log(`reply to a button failed: ${String(err)}`));
    });
  });

  app.error(async (error) => log(`bolt: ${error.message}`));

  return {
    app,
    progress,
    outbox,
    async start() {
      let port: number | undefined;
      if (slack.mode === 'http') {
        const server = await app.start(slack.port);
        port = (server.address() as AddressInfo).port;
      } else {
        await app.start();
      }
      progress.start();
      return { port };
    },
    async stop() {
      await progress.stop();
      await outbox.idle();
      outbox.stop();
      await app.stop();
    },
  };
}
