import { afterEach, describe, expect, it } from 'vitest';
import { createHostBot, type HostBot } from '../../examples/host-bot/bot.js';
import { CHANNELS, SlackStandin, TOKENS, USERS } from '../support/fake-slack.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { simEngine } from './sim-engine.js';
import { textOf } from './story.js';

/**
 * ferry mounted in an operator team's own bot (examples/host-bot), over the real Bolt app in
 * Socket Mode and in HTTP mode: the host's `/ops` command and its button run the host's
 * handlers, acked once; `/ops ferry …` and ferry's Confirm work; ferry never answers the host's
 * button, and Bolt reports no second ack.
 */

const { alice } = USERS;

describe.each(['socket', 'http'] as const)('a host bot with ferry mounted (%s mode)', (mode) => {
  let host: HostBot | undefined;
  let slack: SlackStandin | undefined;
  let redis: RedisServer | undefined;
  afterEach(async () => {
    await host?.stop();
    await slack?.stop();
    await redis?.stop();
    host = undefined;
  });

  it('keeps the host’s command and buttons the host’s, and runs ferry’s through /ops ferry', async () => {
    redis = await startRedis();
    slack = new SlackStandin(TOKENS);
    await slack.start();
    const engine = simEngine('small', 40);
    host = await createHostBot({
      mode,
      botToken: TOKENS.botToken,
      appToken: TOKENS.appToken,
      signingSecret: TOKENS.signingSecret,
      slackApiUrl: slack.apiUrl,
      ferry: {
        service: engine.service,
        redis: redis.url,
        slack: { operators: [alice], progressChannel: CHANNELS.ops, updateIntervalS: 0.2 },
        timezone: 'UTC',
        now: () => engine.clock.now(),
        pollMs: 50,
        log: () => {},
      },
    });
    const port = await host.start(0);
    if (mode === 'http') slack.appUrl = `http://127.0.0.1:${port}/slack/events`;
    else await slack.socketConnected();

    // The host's own command and button: its handlers run, one answer each, nothing from ferry.
    const ops = await slack.slash(alice, 'deploy', CHANNELS.ops, { command: '/ops' });
    expect(ops.status).toBe(200);
    const offer = await slack.waitFor('the host’s answer', () => slack!.answers(ops.responseUrl!)[0]);
    expect(textOf(offer)).toContain('release 2026.12 is ready');
    const click = await slack.click(alice, offer, 'Deploy');
    expect(click.status).toBe(200);
    await slack.waitFor('the host’s deploy answer', () => slack!.answers(click.responseUrl!)[0]);

    // ferry's command, routed by the host, and ferry's own button.
    const evacuate = await slack.slash(alice, 'ferry evacuate cmp-002 now', CHANNELS.ops, {
      command: '/ops',
    });
    const preview = await slack.waitFor('ferry’s preview', () => slack!.answers(evacuate.responseUrl!)[0]);
    expect(textOf(preview)).toContain('Plan: drain cmp-002');
    await slack.click(alice, preview, 'Confirm');
    await slack.waitFor('the confirmation', () => textOf(preview).includes('Confirmed by @U0ALICE'));
    expect(engine.calls.filter((c) => c === 'confirm')).toHaveLength(1);
    const help = await slack.slash(alice, 'ferry help', CHANNELS.ops, { command: '/ops' });
    const helpText = textOf(await slack.waitFor('ferry’s help', () => slack!.answers(help.responseUrl!)[0]));
    expect(helpText).toContain('/ops ferry evacuate HOST');
    expect(helpText).not.toContain('/ferry ');

    // Progress reaches the channel through ferry's loops.
    await slack.waitFor('ferry’s progress message', () =>
      slack!.channel(CHANNELS.ops).some((m) => !m.visibleTo && textOf(m).includes('Evacuation of cmp-002')),
    );

    // The host's Home, with ferry's blocks composed in: one views.publish, the host's.
    const before = slack.views.length;
    const opened = await slack.openHome(alice);
    expect(opened.status).toBe(200);
    const home = await slack.waitFor(
      'the host’s Home',
      () => slack!.views.length > before && slack!.home(alice),
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a second, wrong publish
    expect(slack.views.slice(before)).toHaveLength(1);
    const homeText = textOf({ ...home.view, text: '' } as never);
    expect(homeText).toContain('== ops ==');
    expect(homeText).toContain('== ferry: live migration ==');
    // The drain of cmp-002 (running, or already in the latest post-mortems) and its disabled host.
    expect(homeText).toMatch(/evac-cmp-002-\S+ cmp-002 /);
    expect(homeText).toMatch(/Disabled hosts \(1\)\n🔴 cmp-002 — ferry evacuation evac-cmp-002-/);
    expect(homeText).toContain('/ops ferry help');
    expect(host.seen.homes).toBe(1);

    expect(host.seen.opsCommands).toBe(1);
    expect(host.seen.deployClicks).toBe(1);
    // ferry answered nothing of the host's: exactly one answer to the host's command and click.
    expect(slack.answers(ops.responseUrl!)).toHaveLength(1);
    expect(slack.answers(click.responseUrl!).map(textOf)).toEqual(['ops: deploying 2026.12']);
    expect(host.seen.errors).toEqual([]);
  });
});
