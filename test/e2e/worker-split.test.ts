import { App } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import { mountFerry } from '../../src/commands/app.js';
import { FerryError } from '../../src/engine/errors.js';
import { CHANNELS, SlackStandin, TOKENS, USERS } from '../support/fake-slack.js';
import { botConfig, SplitDeployment, workerConfig } from '../support/ferry-worker.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { completedProgress, textOf } from './story.js';

/**
 * The bot and the engine apart: a standalone bot started with `--no-worker`, whose config has
 * no fleet and no driver settings, answers plans and moves VMs through a real `ferry-worker`
 * process (sim driver) that shares its Redis. Before the worker runs, and after it stopped, a
 * plan says at once that no worker is running.
 */

const { alice } = USERS;

describe('a bot without a worker, beside a ferry-worker process', () => {
  let split: SplitDeployment | undefined;
  afterEach(async () => {
    await split?.stop();
    split = undefined;
  });

  it('plans on the fleet the worker publishes, the worker moves the VMs, and no worker is said at once', async () => {
    split = await SplitDeployment.start({
      worker: workerConfig(25, [
        '{ name: web-01, host: cmp-001, vcpus: 2, memoryGiB: 1, dirtyMiBps: 5 }',
        '{ name: web-02, host: cmp-001, vcpus: 2, memoryGiB: 1, dirtyMiBps: 5 }',
      ]),
      bot: botConfig(),
    });
    const lines: string[] = [];
    await split.startBot((line) => lines.push(line));
    expect(lines.at(-1)).toContain('without a worker');
    const standin = split.slack;
    const answer = async (text: string) => {
      const delivery = await standin.slash(alice, text, CHANNELS.ops);
      return standin.waitFor(`the answer to ${text}`, () => standin.answers(delivery.responseUrl!)[0]);
    };

    // No worker yet: the bot says so, and plans nothing.
    expect(textOf(await answer('plan cmp-001'))).toContain('no ferry-worker is running');

    const spawned = split.spawnWorker();
    const worker = spawned.child;
    await split.fleetPublished();
    expect(spawned.stderr()).not.toContain('failed');

    // The fleet the bot shows and plans on is the worker's.
    const plan = textOf(await answer('plan cmp-001'));
    expect(plan).toContain('Plan: drain cmp-001');
    expect(plan).toContain('web-01');
    expect(textOf(await answer('hosts'))).toContain('cmp-002');

    // The worker runs the evacuation the bot was asked for.
    const preview = await answer('evacuate cmp-001 now');
    await standin.click(alice, preview, 'Confirm');
    await completedProgress(standin, 'cmp-001');
    const hosts = textOf(await answer('hosts'));
    expect(hosts).toMatch(/cmp-002[^\n]*2 VMs/);

    // The worker stops: once its last publication expires, the bot says no worker runs.
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    await split.fleetPublished(false, 10_000);
    expect(textOf(await answer('plan cmp-002'))).toContain('no ferry-worker is running');
  }, 90_000);
});

describe('mounting with worker: false', () => {
  let redis: RedisServer | undefined;
  let slack: SlackStandin | undefined;
  afterEach(async () => {
    await slack?.stop();
    await redis?.stop();
  });

  it('needs no driver section (nova without credentials), while a bot with a worker does', async () => {
    redis = await startRedis();
    slack = new SlackStandin(TOKENS);
    await slack.start();
    const app = () =>
      new App({
        token: TOKENS.botToken,
        signingSecret: TOKENS.signingSecret,
        clientOptions: { slackApiUrl: slack!.apiUrl },
        deferInitialization: true,
      });
    const config = { fleet: { driver: 'nova', hosts: [], instances: [] }, timezone: 'UTC' };
    const options = {
      config: config as never,
      slack: { progressChannel: CHANNELS.ops, operators: [alice] },
      redis: redis.url,
      log: () => {},
    };
    // The host's own logger (pino-like) and a registry of ferry's own to serve.
    const logged: { level: string; fields: object; message: string }[] = [];
    const logger = Object.fromEntries(
      ['info', 'warn', 'error'].map((level) => [
        level,
        (fields: object, message: string) => logged.push({ level, fields, message }),
      ]),
    ) as unknown as { info(): void; warn(): void; error(): void };
    const ferry = await mountFerry(app(), { ...options, log: undefined, logger, worker: false });
    try {
      await expect(ferry.service.plan('cmp-001')).rejects.toThrow(/no ferry-worker is running/);
      const text = await ferry.metrics.metrics();
      expect(text).toContain('# TYPE ferry_migrations_total counter');
      expect(text).toMatch(/^ferry_evacuations_running 0$/m);
      // ferry's registry is its own: nothing of it in prom-client's global one.
      const { register } = await import('prom-client');
      expect(await register.getMetricsAsJSON()).toEqual([]);
      // ferry logs through the host's logger: here, a replayed request.
      const context = { userId: alice, respond: async () => undefined, triggerId: 'trigger-twice' };
      await ferry.handleCommand('help', context);
      await ferry.handleCommand('help', context);
      expect(logged).toEqual([
        { level: 'info', fields: {}, message: 'ignored a replayed request (trigger_id trigger-twice)' },
      ]);
    } finally {
      await ferry.stop();
    }
    const err = await mountFerry(app(), { ...options, worker: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).userMessage).toMatch(/nova/);
  });
});
