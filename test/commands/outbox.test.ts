import { webApi } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackOutbox } from '../../src/commands/outbox.js';
import { section } from '../../src/views/blocks.js';
import { SlackStandin, TOKENS } from '../support/fake-slack.js';

const msg = (text: string) => ({ text, blocks: [section(text)] });

describe('the Slack outbox against a loopback Web API', () => {
  let slack: SlackStandin;
  let client: webApi.WebClient;

  beforeEach(async () => {
    slack = new SlackStandin(TOKENS);
    await slack.start();
    client = new webApi.WebClient(TOKENS.botToken, {
      slackApiUrl: slack.apiUrl,
      rejectRateLimitedCalls: true,
      logLevel: webApi.LogLevel.ERROR,
    });
  });
  afterEach(() => slack.stop());

  it('coalesces a burst of updates: few calls, and the latest state is what stays', async () => {
    const outbox = new SlackOutbox(client, { minUpdateIntervalMs: 200, updatesPerMinute: 45 });
    const ts = await outbox.post('C1', msg('state 0'));
    for (let i = 1; i <= 100; i++) outbox.update('C1', ts, msg(`state ${i}`));
    await outbox.idle();
    const updates = slack.calls.filter((c) => c.method === 'chat.update');
    expect(updates.length).toBeLessThanOrEqual(2);
    expect(slack.channel('C1')[0]!.text).toBe('state 100');
  });

  it('honours Retry-After on 429 and never loses the final state', async () => {
    const outbox = new SlackOutbox(client, { minUpdateIntervalMs: 0, updatesPerMinute: 45 });
    const ts = await outbox.post('C1', msg('running'));
    slack.rateLimit('chat.update', 2, 1);
    outbox.update('C1', ts, msg('half way'));
    outbox.update('C1', ts, msg('finished'));
    await outbox.idle();
    const updates = slack.calls.filter((c) => c.method === 'chat.update');
    expect(updates.map((c) => c.status)).toEqual([429, 429, 200]);
    expect(updates.at(-1)!.args.text).toBe('finished');
    expect(slack.channel('C1')[0]!.text).toBe('finished');
  });

  it('keeps posts in order through a rate limit, and a limited update does not hold posts back', async () => {
    const outbox = new SlackOutbox(client, { minUpdateIntervalMs: 0, updatesPerMinute: 45 });
    const ts = await outbox.post('C1', msg('main'));
    slack.rateLimit('chat.postMessage', 1, 1);
    const replies = ['one', 'two', 'three'].map((t) => outbox.post('C1', msg(t), ts));
    await Promise.all(replies);
    expect(slack.thread('C1', ts).map((m) => m.text)).toEqual(['one', 'two', 'three']);
    slack.rateLimit('chat.update', 1, 30);
    outbox.update('C1', ts, msg('main, updated'));
    // Wait for the 429 to be received, then post: the post goes out while updates are blocked.
    await slack.waitFor('the rate-limited update', () =>
      slack.calls.find((c) => c.status === 429 && c.method === 'chat.update'),
    );
    await outbox.post('C1', msg('four'), ts);
    expect(slack.thread('C1', ts).map((m) => m.text)).toEqual(['one', 'two', 'three', 'four']);
    outbox.stop();
  });

  it('keeps chat.update within the workspace budget per minute', async () => {
    const outbox = new SlackOutbox(client, { minUpdateIntervalMs: 0, updatesPerMinute: 3 });
    const posted = await Promise.all([1, 2, 3, 4, 5].map((i) => outbox.post('C1', msg(`m${i}`))));
    for (const ts of posted) outbox.update('C1', ts, msg('updated'));
    await slack.waitFor(
      'three updates',
      () => slack.calls.filter((c) => c.method === 'chat.update').length >= 3,
    );
    // The other two wait for the minute to roll over; nothing else is sent meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slack.calls.filter((c) => c.method === 'chat.update')).toHaveLength(3);
    outbox.stop();
  });
});
