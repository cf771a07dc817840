import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slackConfigSchema } from '../commands/config.js';
import { createStandaloneBot, type StandaloneBot } from '../commands/standalone.js';
import { acceleratedClock } from '../engine/clock.js';
import { type BotEngine, createBotEngine, createDriver, loadConfig } from '../engine/compose.js';
import { parseSection } from '../engine/config.js';
import type { Driver } from '../engine/drivers/driver.js';
import { toFerryError } from '../engine/errors.js';
import { connect, redisConfigSchema } from '../engine/store/redis/index.js';
import type { Block } from '../views/blocks.js';
import { messageToText } from '../views/text.js';
import { type RedisServer, startRedis } from './redis.js';
import { SlackStandin, type StandinEvent, type StoredMessage } from './slack-standin.js';

/**
 * `npm run demo`: the whole story on one machine, in well under a minute. A local redis-server,
 * the simulated fleet of examples/demo.yaml on a clock 30 times faster than the wall clock, the
 * durable engine, and the real Bolt app in Socket Mode against a loopback stand-in for Slack.
 * Alice (operator) drains cmp-001; db-01 writes memory too fast to converge, so a switchover
 * needs a second person: alice's own approval is refused, bob approves, the evacuation completes
 * and the post-mortem is posted. Everything the channel shows is printed as text.
 */

const SPEED = 30;
const CONFIG = join(import.meta.dirname, '..', '..', 'examples', 'demo.yaml');
const HOST = 'cmp-001';
const USERS = { alice: 'U0ALICE', bob: 'U0BOB' } as const;
const TOKENS = { botToken: 'xoxb-demo', appToken: 'xapp-demo' };
/** The whole story must end within this much wall time, or the demo fails saying where it stuck. */
const DEADLINE_MS = 120_000;

const out = (line = '') => process.stdout.write(`${line}\n`);

function indent(text: string, prefix = '    '): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

/** Where the demo writes the charts ferry uploads, so a person can open them. */
const CHART_DIR = join(tmpdir(), 'ferry-demo');

/** Prints the channel as a person in it would read it. */
function narrate(slack: SlackStandin, names: Record<string, string>, events: { edits: number }) {
  const name = (id: string) => names[id] ?? id;
  const text = (m: StoredMessage) =>
    messageToText({ text: m.text, blocks: m.blocks as unknown as Block[] }, names);
  const where = (m: StoredMessage) =>
    `#${name(m.channel)}${m.threadTs ? ' (thread)' : ''}${m.visibleTo ? ` (only ${name(m.visibleTo)} sees this)` : ''}`;
  return (event: StandinEvent) => {
    switch (event.kind) {
      case 'command':
        out(`\n${name(event.user)} ▸ /ferry ${event.text}`);
        break;
      case 'click':
        out(`\n${name(event.user)} ▸ presses [${event.label}] on “${event.message.text.split('\n')[0]}”`);
        break;
      case 'posted':
      case 'ephemeral': {
        const { file } = event.message;
        if (!file) {
          out(`\n${where(event.message)} ferry:\n${indent(text(event.message))}`);
          break;
        }
        // A file shared into a thread: Slack shows the picture; the demo writes it to disk.
        const path = join(CHART_DIR, file.filename);
        mkdirSync(CHART_DIR, { recursive: true });
        writeFileSync(path, slack.uploads.get(file.id)?.bytes ?? Buffer.alloc(0));
        out(
          `\n${where(event.message)} ferry shared ${file.filename} (“${file.title ?? ''}”)\n    📈 the PNG is written to ${path}`,
        );
        break;
      }
      case 'home':
        out(`\n${name(event.user)} ▸ opens ferry's App Home`);
        break;
      case 'view':
        out(
          `\n${event.call.user ? `App Home of ${name(event.call.user)}` : 'a modal'} (${event.call.method}):\n` +
            indent(messageToText({ text: '', blocks: event.call.view.blocks as unknown as Block[] }, names)),
        );
        break;
      case 'updated':
        events.edits++;
        out(
          `\n${where(event.message)} ferry edited its message (edit ${event.message.edits}):\n${indent(text(event.message))}`,
        );
        break;
    }
  };
}

async function play(slack: SlackStandin, channels: { ops: string; approvers: string }): Promise<void> {
  const { alice, bob } = USERS;
  const answer = async (what: string, responseUrl: string | undefined) =>
    slack.waitFor(what, () => slack.answers(responseUrl ?? '')[0], DEADLINE_MS);
  const header = (m: StoredMessage) => {
    const first = m.blocks[0] as { type?: string; text?: { text?: string } } | undefined;
    return first?.type === 'header' ? (first.text?.text ?? '') : '';
  };
  const find = (channel: string, prefix: string) =>
    slack.channel(channel).find((m) => !m.threadTs && !m.visibleTo && header(m).startsWith(prefix));

  await answer('the plan preview', (await slack.slash(alice, `plan ${HOST}`, channels.ops)).responseUrl);
  const evacuate = await slack.slash(alice, `evacuate ${HOST} now kernel upgrade`, channels.ops);
  const preview = await answer('the preview with Confirm', evacuate.responseUrl);
  await slack.click(alice, preview, 'Confirm');

  // Asked early: the move the plan marked is put to the approvers when alice confirms, in one
  // message for the evacuation; bob pre-approves it, so its switchover waits for nobody.
  const request = await slack.waitFor(
    'the approval message',
    () => find(channels.approvers, 'Approvals for'),
    DEADLINE_MS,
  );
  // While it drains: the App Home shows it running, its host disabled, and the windows.
  const published = slack.views.length;
  await slack.openHome(alice);
  await slack.waitFor('the App Home', () => slack.views.length > published, DEADLINE_MS);
  const labels = request.blocks.flatMap((b) =>
    b.type === 'actions' ? (b.elements as Array<{ text: { text: string } }>).map((e) => e.text.text) : [],
  );
  const all = labels.find((l) => l.startsWith('Approve all')) ?? 'Approve';
  await answer('the refusal of alice’s own approval', (await slack.click(alice, request, all)).responseUrl);
  await answer('bob’s pre-approval', (await slack.click(bob, request, all)).responseUrl);
  const report = await slack.waitFor('the post-mortem', () => find(channels.ops, 'Post-mortem'), DEADLINE_MS);
  await slack.waitFor(
    'the chart under the post-mortem',
    () => slack.thread(channels.ops, report.ts).find((m) => m.file),
    DEADLINE_MS,
  );
}

async function main(): Promise<number> {
  const started = Date.now();
  const config = loadConfig(CONFIG);
  const slackConfig = parseSection(slackConfigSchema, config.slack, CONFIG, 'slack');
  const names: Record<string, string> = {
    [USERS.alice]: 'alice',
    [USERS.bob]: 'bob',
    [slackConfig.progressChannel]: 'ops',
    ...(slackConfig.approversChannel ? { [slackConfig.approversChannel]: 'approvers' } : {}),
  };
  const channels = {
    ops: slackConfig.progressChannel,
    approvers: slackConfig.approversChannel ?? slackConfig.progressChannel,
  };
  out(
    `ferry demo: draining ${HOST} of ${CONFIG.replace(`${process.cwd()}/`, '')} on the simulator, ${SPEED}× faster`,
  );
  out(
    'alice is an operator; bob is an approver; ferry runs on Redis and BullMQ, Slack is a loopback stand-in.',
  );

  let redis: RedisServer | undefined;
  let client: ReturnType<typeof connect> | undefined;
  let driver: Driver | undefined;
  let engine: BotEngine | undefined;
  let ferry: StandaloneBot | undefined;
  const slack = new SlackStandin(TOKENS);
  const counts = { edits: 0 };
  try {
    redis = await startRedis();
    client = connect(redisConfigSchema.parse({ url: redis.url }));
    const clock = acceleratedClock(SPEED);
    driver = createDriver(config, clock);
    engine = createBotEngine({ config, driver, clock, redis: client, clockRate: SPEED });
    await slack.start();
    ferry = await createStandaloneBot({
      slack: slackConfig,
      tokens: TOKENS,
      service: engine.service,
      redis: client,
      timezone: config.timezone,
      maintenance: false,
      now: () => clock.now(),
      slackApiUrl: slack.apiUrl,
      pollMs: 200,
      log: (line) => process.stderr.write(`ferry: ${line}\n`),
    });
    engine.startWorker();
    await ferry.start();
    await slack.socketConnected();
    slack.on('event', narrate(slack, names, counts));
    await play(slack, channels);
    // The last progress edit may still be on its way: let the outbox finish.
    await ferry.ferry.outbox.idle();
    const calls = (method: string) =>
      slack.calls.filter((c) => c.method === method && c.status === 200).length;
    out(
      `\nDone in ${Math.round((Date.now() - started) / 100) / 10} s: ${calls('chat.postMessage')} messages posted, ` +
        `${calls('chat.update')} updated in place, ${slack.messages.filter((m) => m.visibleTo).length} private answers.`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`ferry demo failed: ${toFerryError(err).message}\n`);
    return 1;
  } finally {
    await ferry?.stop().catch(() => {});
    await engine?.close().catch(() => {});
    await driver?.close().catch(() => {});
    client?.disconnect();
    await slack.stop().catch(() => {});
    await redis?.stop().catch(() => {});
  }
}

main().then((code) => process.exit(code));
