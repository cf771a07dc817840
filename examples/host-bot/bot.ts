import type { AddressInfo } from 'node:net';
import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
// In your bot: `import { mountFerry } from 'ferry';` (this example runs from the repository).
import {
  ENVELOPE_ID_PROPERTY,
  type Ferry,
  type FerryOptions,
  mountFerry,
  socketModeEnvelope,
} from '../../src/index.js';

/**
 * A Bolt app in the style operator teams already run, with ferry mounted in it: its own `/ops`
 * command (`/ops deploy`, `/ops oncall`, and `/ops ferry …` routed to ferry), its own buttons
 * (`ops.*` ids) and its own App Home. ferry registers no command of its own here; it answers only
 * its own `ferry.*` buttons, so the host's handlers are the only ones that see (and ack) theirs.
 */

export interface HostBotOptions {
  mode: 'socket' | 'http';
  botToken: string;
  appToken?: string;
  signingSecret?: string;
  slackApiUrl?: string;
  /** Everything ferry needs but the app: redis, config or service, slack section. */
  ferry: Omit<FerryOptions, 'command' | 'invokedAs'>;
}

export interface HostBot {
  app: App;
  ferry: Ferry;
  /** What the host's own handlers did (the e2e test reads it). */
  seen: { opsCommands: number; deployClicks: number; homes: number; errors: string[] };
  /** Starts the receiver; HTTP mode resolves with the port it listens on. */
  start(port?: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function createHostBot(options: HostBotOptions): Promise<HostBot> {
  const clientOptions = options.slackApiUrl ? { slackApiUrl: options.slackApiUrl } : {};
  const app = new App({
    token: options.botToken,
    ...(options.mode === 'socket'
      ? {
          socketMode: true,
          // ferry's extractor hands it each envelope's id: a redelivered envelope acts once.
          receiver: new SocketModeReceiver({
            appToken: options.appToken ?? '',
            logLevel: LogLevel.ERROR,
            installerOptions: { clientOptions },
            customPropertiesExtractor: socketModeEnvelope,
          }),
        }
      : { signingSecret: options.signingSecret }),
    clientOptions,
    logLevel: LogLevel.ERROR,
    deferInitialization: true,
  });
  const seen: HostBot['seen'] = { opsCommands: 0, deployClicks: 0, homes: 0, errors: [] };
  // A second ack (two listeners answering one request) would land here as ReceiverMultipleAckError.
  app.error(async (error) => {
    seen.errors.push(`${error.name}: ${error.message}`);
  });

  const ferry = await mountFerry(app, { ...options.ferry, command: false, invokedAs: '/ops ferry' });

  app.command('/ops', async ({ command, ack, respond, context }) => {
    await ack();
    const [word = '', ...rest] = command.text.trim().split(/\s+/);
    if (word === 'ferry')
      return ferry.handleCommand(rest.join(' '), {
        userId: command.user_id,
        respond,
        triggerId: command.trigger_id,
        envelopeId: context[ENVELOPE_ID_PROPERTY] as string | undefined,
      });
    seen.opsCommands++;
    await respond({
      text: 'ops: release 2026.12 is ready to deploy',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: '*ops*: release 2026.12 is ready to deploy' } },
        {
          type: 'actions',
          block_id: 'ops.deploy',
          elements: [
            {
              type: 'button',
              text: { type: 'plain_text', text: 'Deploy' },
              action_id: 'ops.deploy.go',
              value: '2026.12',
            },
          ],
        },
      ],
    });
  });

  app.action('ops.deploy.go', async ({ ack, respond }) => {
    await ack();
    seen.deployClicks++;
    await respond({ text: 'ops: deploying 2026.12', replace_original: false });
  });

  // The host's own Home, with ferry's blocks composed into it (ferry's `home` option stays off:
  // an app has one Home tab, and views.publish replaces all of it).
  app.event('app_home_opened', async ({ event, client }) => {
    seen.homes++;
    await client.views.publish({
      user_id: event.user,
      view: {
        type: 'home',
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: 'ops' } },
          { type: 'section', text: { type: 'mrkdwn', text: 'release 2026.12 is ready: `/ops deploy`' } },
          { type: 'divider' },
          ...(await ferry.homeBlocks()),
        ],
      },
    });
  });

  await app.init();
  return {
    app,
    ferry,
    seen,
    async start(port = 3000) {
      if (options.mode === 'socket') {
        await app.start();
        return undefined;
      }
      const server = await app.start(port);
      return (server.address() as AddressInfo).port;
    },
    // Stops ferry too: mountFerry stops its loops with the app.
    async stop() {
      await app.stop();
    },
  };
}
