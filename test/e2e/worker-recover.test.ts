import { App } from '@slack/bolt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountFerry } from '../../src/commands/app.js';
import type { FerryEvent } from '../../src/engine/model.js';
import { Harness } from '../engine/store/redis/harness.js';
import { CHANNELS, SlackStandin, TOKENS, USERS } from '../support/fake-slack.js';
import { until } from './story.js';

/**
 * A post-copy recovered from a bot that reaches no hypervisor: the bot is mounted with
 * `worker: false`, the evacuation runs in a real worker process (the durable engine, BullMQ)
 * driving a simulated fleet in a third process. batch-01's stream stalls; bob approves
 * post-copy; the post-copy stalls too. `/ferry recover` in the bot records the request in
 * Redis, the worker that owns the migration carries it out at its next step (the bot has no
 * driver to do it with), the thread-bound event says so, and the migration completes.
 */

const SPEED = 30;
const { alice, bob } = USERS;

const FLEET = `
timezone: UTC
fleet:
  driver: sim
  hosts:
    - { name: cmp-001, vcpus: 64, memoryGiB: 256, nicGbps: 25 }
    - { name: cmp-003, vcpus: 64, memoryGiB: 256, nicGbps: 25 }
  instances:
    - { name: batch-01, host: cmp-001, vcpus: 8, memoryGiB: 12, dirtyMiBps: 40 }
policy: { allowPause: false, stallTimeoutS: 20, askEarly: false, approvalTimeoutS: 600 }
`;

describe('recovering a post-copy from a bot without a worker', () => {
  let harness: Harness;
  let slack: SlackStandin;
  beforeAll(async () => {
    harness = await Harness.start();
    slack = new SlackStandin(TOKENS);
    await slack.start();
  });
  afterAll(async () => {
    await slack?.stop();
    await harness?.stop();
  });

  it('is carried out by the worker process that runs the migration', async () => {
    const f = await harness.fixture(FLEET, SPEED);
    await f.sim.injectFault({ kind: 'stall', instance: 'batch-01', afterMs: 2000 });
    await f.worker('w1');
    const app = new App({
      token: TOKENS.botToken,
      signingSecret: TOKENS.signingSecret,
      clientOptions: { slackApiUrl: slack.apiUrl },
      deferInitialization: true,
    });
    const ferry = await mountFerry(app, {
      config: f.file,
      redis: harness.redis.url,
      worker: false,
      slack: { progressChannel: CHANNELS.ops, operators: [alice], approvers: [bob] },
      log: () => {},
    });
    try {
      const answers: string[] = [];
      const ask = async (user: string, text: string) => {
        const before = answers.length;
        await ferry.handleCommand(text, {
          userId: user,
          respond: async (m: { text?: string }) => {
            answers.push(m.text ?? '');
          },
        });
        return answers.slice(before).join('\n');
      };
      const events = (id: string): Promise<FerryEvent[]> => ferry.service.events(id);

      // The bot plans on the fleet the worker publishes.
      await until('the worker’s fleet', async () =>
        ferry.service.fleet().then(
          (fleet) => fleet.instances.length === 1,
          () => false,
        ),
      );
      const started = await ask(alice, 'migrate batch-01 to cmp-003');
      const id = /\(`?((?:mig|evac)-[^)`\s]+)`?\)/.exec(started)?.[1];
      expect(id, started).toBeDefined();
      const migrationId = `${id}:batch-01`;

      await until(
        'the approval request',
        async () => (await events(id!)).some((e) => e.type === 'approval.requested'),
        30_000,
      );
      const request = (await events(id!)).find((e) => e.type === 'approval.requested');
      if (request?.type !== 'approval.requested') throw new Error('no approval request');
      await ferry.service.decide(request.approval.id, 'approved', bob);

      await until(
        'the stalled post-copy',
        async () => (await events(id!)).some((e) => e.type === 'migration.postcopy-stalled'),
        30_000,
      );
      // Written by the worker, which has the driver: it says the post-copy can be recovered.
      expect((await events(id!)).find((e) => e.type === 'migration.postcopy-stalled')).toMatchObject({
        recoverable: true,
        migrationId,
      });

      const told = await ask(alice, `recover ${migrationId}`);
      expect(told).toContain(`Post-copy of \`${migrationId}\` recovering`);
      await until(
        'the worker’s recovery',
        async () => (await events(id!)).some((e) => e.type === 'migration.postcopy-recovery'),
        30_000,
      );
      expect((await events(id!)).filter((e) => e.type === 'migration.postcopy-recovery')).toEqual([
        expect.objectContaining({ migrationId, by: alice, ok: true }),
      ]);
      await until(
        'batch-01 to complete after the recovery',
        async () => (await ferry.service.status(id!)).migrations[0]!.state === 'completed',
        30_000,
      );
      // The worker's log names the run it owned; the bot ran nothing.
      expect(harness.workerLogs()).toContain(id!);
      const audit = await ferry.service.audit(id!);
      expect(audit.filter((a) => a.action === 'recover')).toEqual([
        expect.objectContaining({ who: alice, target: migrationId, via: 'slack' }),
      ]);
    } finally {
      await ferry.stop();
      await harness.cleanup();
    }
  }, 120_000);
});
