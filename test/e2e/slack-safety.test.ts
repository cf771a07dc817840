import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { App } from '@slack/bolt';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { mountFerry } from '../../src/commands/app.js';
import { checkRequestTimestamp } from '../../src/commands/verify.js';
import { FerryError } from '../../src/engine/errors.js';
import { startBot } from '../../src/main.js';
import { CHANNELS, type Harness, SlackStandin, startHarness, TOKENS, USERS } from '../support/fake-slack.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { spyService } from '../support/spy-service.js';
import { simEngine } from './sim-engine.js';

/**
 * The Slack edge's own safety, over the real Bolt app: a signed request from the future is
 * refused, a replayed request acts once even across two bot processes, and a wrong token or a
 * bad mount is one typed error, never a crash of the process.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const { alice } = USERS;

describe('requests Slack did not just send', () => {
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0).reverse()) await h.stop();
  });

  it('refuses a correctly signed request timestamped an hour ahead, and takes one from now', async () => {
    const spy = spyService();
    const harness = await startHarness({ mode: 'http', service: spy.service });
    harnesses.push(harness);
    const { slack } = harness;
    const body = new URLSearchParams({ command: '/ferry', text: 'help', user_id: alice }).toString();
    const future = Math.floor(Date.now() / 1000) + 3600;
    const refused = await slack.postSigned(body, slack.sign(body, future), future);
    expect(refused.status).toBe(401);
    expect(String(refused.body)).toContain('in the future');
    // The same check, as hosts install it.
    expect(() => checkRequestTimestamp({ 'x-slack-request-timestamp': String(future) })).toThrow(
      /in the future/,
    );
    expect(() => checkRequestTimestamp({ 'x-slack-request-timestamp': String(future - 3590) })).not.toThrow();
    const delivery = await slack.slash(alice, 'help', CHANNELS.ops);
    expect(delivery.status).toBe(200);
    await slack.waitFor('the help answer', () => slack.answers(delivery.responseUrl!)[0]);
    expect(spy.calls).toEqual([]);
  });

  it('migrates once when the same signed /ferry migrate reaches two bot processes', async () => {
    const engine = simEngine('small', 40);
    const lines: string[] = [];
    const first = await startHarness({
      mode: 'http',
      service: engine.service,
      now: () => engine.clock.now(),
      log: (line) => lines.push(line),
    });
    harnesses.push(first);
    const firstUrl = first.slack.appUrl!;
    const second = await startHarness({
      mode: 'http',
      service: engine.service,
      now: () => engine.clock.now(),
      redis: first.redis,
      standin: first.slack,
      log: (line) => lines.push(line),
    });
    harnesses.push(second);
    const { slack } = first;
    const vm = (await engine.service.fleet()).instances[0]!.name;
    const triggerId = 'trigger-replayed-1';
    const secondUrl = slack.appUrl!;
    expect(secondUrl).not.toBe(firstUrl);
    slack.appUrl = firstUrl;
    const one = await slack.slash(alice, `migrate ${vm}`, CHANNELS.ops, { triggerId });
    slack.appUrl = secondUrl;
    const two = await slack.slash(alice, `migrate ${vm}`, CHANNELS.ops, { triggerId });
    expect([one.status, two.status]).toEqual([200, 200]);
    await slack.waitFor('the migration’s announcement', () => slack.answers(one.responseUrl!)[0]);
    await slack.waitFor('the replay to be ignored', () =>
      lines.some((l) => l.includes(`ignored a replayed request (trigger_id ${triggerId})`)),
    );
    expect(engine.calls.filter((c) => c === 'migrate')).toHaveLength(1);
    expect(slack.answers(two.responseUrl!)).toEqual([]);
  });

  it('acts once on a Socket Mode envelope delivered twice, also by another bot process, whatever its trigger_id', async () => {
    const engine = simEngine('small', 40);
    const lines: string[] = [];
    const first = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
      log: (line) => lines.push(line),
    });
    harnesses.push(first);
    const { slack } = first;
    const vm = (await engine.service.fleet()).instances[0]!.name;
    const one = await slack.slash(alice, `migrate ${vm}`, CHANNELS.ops);
    await slack.waitFor('the migration’s announcement', () => slack.answers(one.responseUrl!)[0]);
    const envelope = one.envelopeId!;

    // Slack missed the ack and sends the same envelope again: acked, not acted on.
    const again = await slack.redeliver(envelope);
    expect(again.status).toBe(200);
    await slack.waitFor('the redelivery to be ignored', () =>
      lines.some((l) => l.includes(`ignored a replayed request (envelope_id ${envelope}, trigger_id`)),
    );

    // A second bot process on the same Redis takes the connection; the envelope, now carrying a
    // trigger_id never seen, is still recognised.
    const second = await startHarness({
      mode: 'socket',
      service: engine.service,
      now: () => engine.clock.now(),
      redis: first.redis,
      standin: slack,
      log: (line) => lines.push(line),
    });
    harnesses.push(second);
    await slack.redeliver(envelope, (payload) => ({ ...payload, trigger_id: 'trigger-never-seen' }));
    await slack.waitFor('the second bot to ignore it', () =>
      lines.some((l) => l === `ignored a replayed request (envelope_id ${envelope})`),
    );
    expect(engine.calls.filter((c) => c === 'migrate')).toHaveLength(1);
    expect(slack.answers(one.responseUrl!)).toHaveLength(1);
  });
});

describe('mounting ferry', () => {
  let redis: RedisServer | undefined;
  let slack: SlackStandin | undefined;
  afterEach(async () => {
    await slack?.stop();
    await redis?.stop();
    slack = undefined;
    redis = undefined;
  });

  const hostApp = (token = TOKENS.botToken) =>
    new App({
      token,
      signingSecret: TOKENS.signingSecret,
      clientOptions: { slackApiUrl: slack!.apiUrl },
      deferInitialization: true,
    });
  const slackSection = { progressChannel: CHANNELS.ops, operators: [alice] };

  it('rejects bad options, a wrong token, a keyPrefix client and an unreachable Redis with typed errors', async () => {
    redis = await startRedis();
    slack = new SlackStandin(TOKENS);
    await slack.start();
    const service = spyService().service;
    const mount = (overrides: Record<string, unknown>, app = hostApp()) =>
      mountFerry(app, { service, slack: slackSection, redis: redis!.url, log: () => {}, ...overrides });
    const failure = async (promise: Promise<unknown>) => {
      const err = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FerryError);
      return err as FerryError;
    };

    expect((await failure(mount({ command: 'ferry' }))).userMessage).toMatch(/command: .*a slash command/);
    expect((await failure(mount({ slack: { operators: [alice] } }))).code).toBe('CONFIG_INVALID');
    expect((await failure(mount({}, hostApp('xoxb-wrong')))).userMessage).toContain(
      'Slack refused the bot token (invalid_auth)',
    );
    const prefixed = new Redis(redis.url, { keyPrefix: 'host:' });
    try {
      expect((await failure(mount({ redis: prefixed }))).userMessage).toContain('keyPrefix "host:"');
    } finally {
      prefixed.disconnect();
    }
    const unreachable = await failure(mount({ redis: 'redis://127.0.0.1:1' }));
    expect(unreachable.userMessage).toContain('ferry cannot reach Redis');
    // A good mount still works after all that, on the host's own client.
    const hostClient = new Redis(redis.url);
    try {
      const ferry = await mount({ redis: hostClient });
      await ferry.stop();
      // ferry closed its own connection, not the host's.
      expect(await hostClient.ping()).toBe('PONG');
    } finally {
      hostClient.disconnect();
    }
  });

  it('turns a wrong token into one clear line and exit 1 for the standalone bot', async () => {
    slack = new SlackStandin(TOKENS);
    await slack.start();
    const env = {
      SLACK_BOT_TOKEN: 'xoxb-wrong',
      SLACK_APP_TOKEN: TOKENS.appToken,
      SLACK_API_URL: slack.apiUrl,
      REDIS_URL: 'redis://127.0.0.1:1',
    };
    const config = join(ROOT, 'examples', 'demo.yaml');
    await expect(startBot(['--config', config], env, () => {})).rejects.toThrow(
      /Slack refused the bot token \(invalid_auth\)/,
    );
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src', 'main.ts'), '--config', config],
      {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      'ferry: Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN or the token the app was built with',
    ]);
  }, 30_000);
});
