import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, LogLevel, SocketModeReceiver } from '@slack/bolt';
import { ConfigError } from '../engine/errors.js';
import { readSecret, SECRETS, whereToSet } from '../engine/secrets.js';
import { errorMessage } from '../views/replies.js';
import { type Ferry, type FerryOptions, ferryLog, mountFerry } from './app.js';
import { boltLogger } from './bolt-logger.js';
import type { SlackConfig } from './config.js';
import { guardRequests, socketModeEnvelope } from './verify.js';

/**
 * ferry as its own Slack app: a Bolt app (Socket Mode by default, HTTP with a signing secret as
 * the option) with nothing in it but ferry, mounted like any host would. HTTP mode refuses
 * requests timestamped outside 5 minutes either way (Bolt only refuses stale ones).
 */

export interface SlackTokens {
  botToken: string;
  /** Socket Mode's app-level token (xapp-…). */
  appToken?: string;
  /** HTTP mode's signing secret. */
  signingSecret?: string;
}

/**
 * The bot token and, by mode, the app token or the signing secret: each from the environment, a
 * `_FILE` it names, or the `slack:` section, in that order (secrets.ts); names what is missing.
 */
export function slackTokens(env: NodeJS.ProcessEnv, slack: SlackConfig): SlackTokens {
  const botToken = readSecret(SECRETS.slackBotToken, env, slack.botToken);
  const appToken = readSecret(SECRETS.slackAppToken, env, slack.appToken);
  const signingSecret = readSecret(SECRETS.slackSigningSecret, env, slack.signingSecret);
  const needed = [
    { spec: SECRETS.slackBotToken, secret: botToken },
    slack.mode === 'socket'
      ? { spec: SECRETS.slackAppToken, secret: appToken }
      : { spec: SECRETS.slackSigningSecret, secret: signingSecret },
  ];
  const missing = needed.filter((n) => !n.secret).map((n) => whereToSet(n.spec));
  if (missing.length > 0 || !botToken)
    throw new ConfigError(`set ${missing.join(' and ')} (slack.mode is ${slack.mode})`);
  return { botToken: botToken.value, appToken: appToken?.value, signingSecret: signingSecret?.value };
}

export interface StandaloneOptions extends Omit<FerryOptions, 'slack'> {
  slack: SlackConfig;
  tokens: SlackTokens;
  /** Slack's Web API base URL; a loopback stand-in in tests and the demo. */
  slackApiUrl?: string;
}

export interface StandaloneBot {
  app: App;
  ferry: Ferry;
  /** Starts the receiver; HTTP mode returns the port it listens on. */
  start(): Promise<{ port?: number }>;
  /** Stops ferry (writing what is queued), then the receiver. */
  stop(): Promise<void>;
}

/** Builds the app and mounts ferry; a wrong token or an unreachable Redis rejects here, typed. */
export async function createStandaloneBot(options: StandaloneOptions): Promise<StandaloneBot> {
  const { slack, tokens, slackApiUrl, ...rest } = options;
  const clientOptions = slackApiUrl ? { slackApiUrl } : {};
  const log = ferryLog(rest);
  // Bolt's own lines (the receiver's, the client's) through ferry's log: redacted, structured.
  const logger = boltLogger(log, LogLevel.ERROR);
  let receiver: HTTPReceiver | SocketModeReceiver;
  if (slack.mode === 'http') {
    const http = new HTTPReceiver({
      signingSecret: tokens.signingSecret ?? '',
      logger,
      logLevel: LogLevel.ERROR,
    });
    http.requestListener = guardRequests(http.requestListener);
    receiver = http;
  } else {
    // Bolt's own Socket Mode receiver, with the envelope id passed on: a redelivered envelope acts once.
    receiver = new SocketModeReceiver({
      appToken: tokens.appToken ?? '',
      logger,
      logLevel: LogLevel.ERROR,
      installerOptions: { clientOptions },
      customPropertiesExtractor: socketModeEnvelope,
    });
  }
  const app = new App({
    token: tokens.botToken,
    receiver,
    ...(slack.mode === 'socket' ? { socketMode: true } : {}),
    clientOptions,
    logger,
    logLevel: LogLevel.ERROR,
    // Bolt would check the token in its constructor and crash the process on a wrong one
    // (an unhandled rejection); mountFerry checks it and rejects with an AuthError instead.
    deferInitialization: true,
  });
  app.error(async (error) => log(`bolt: ${error.message}`, { component: 'bolt', level: 'error' }));
  const ferry = await mountFerry(app, { home: true, ...rest, logger: undefined, slack, log });
  // This app is ferry's alone, so a button that is not ferry's is forged: it is answered here
  // (ferry itself never matches ids outside `ferry.`, which is what a host bot needs).
  app.action({ type: 'block_actions', action_id: /^(?!ferry\.)/ }, async ({ ack, respond }) => {
    await ack();
    const { text, blocks } = errorMessage('that button is not one of ferry’s; nothing was done');
    await respond({ text, blocks }).catch((err) => log(`reply to a button failed: ${String(err)}`));
  });
  try {
    await app.init();
  } catch (err) {
    await ferry.stop();
    throw err;
  }
  return {
    app,
    ferry,
    async start() {
      if (slack.mode === 'http') {
        const server = await app.start(slack.port);
        return { port: (server.address() as AddressInfo).port };
      }
      await app.start();
      return {};
    },
    async stop() {
      // mountFerry stops ferry with the app.
      await app.stop();
    },
  };
}
