import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ParseResult, parseCommand, tokenize } from '../../src/commands/grammar.js';
import { COMMAND_ROLE } from '../../src/commands/roles.js';
import type { Delivery, StoredMessage } from '../../src/demo/slack-standin.js';
import { ACTION, approvalPayloadSchema, confirmPayloadSchema } from '../../src/views/actions.js';
import { prng } from '../fuzz/mutate.js';
import { CHANNELS, type Harness, startHarness, USERS } from '../support/fake-slack.js';
import { spyService } from '../support/spy-service.js';
import { textOf } from './story.js';

/**
 * Thousands of random and hostile command texts and button payloads, from a fixed seed, through
 * the real Bolt app: none crashes it, none reaches the engine but to audit a refusal (the spy has no
 * engine behind it and counts every call), and every one gets a private answer that says what was wrong.
 */

const COMMANDS = 1500;
const PAYLOADS = 1000;
const { alice, bob, mallory } = USERS;

const HOSTILE = [
  '<!channel>',
  '<!here|here>',
  '<@U0BOB>',
  '<#C0OPS|ops>',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '__proto__',
  'constructor',
  '{"v":1}',
  "'; DROP TABLE hosts; --",
  '$(reboot)',
  '`rm -rf /`',
  '../../etc/passwd',
  'cmp-001\nabort all',
  '\u202eevil',
  '🙂',
  'ｅｖａｃｕａｔｅ',
  'x'.repeat(700),
  '\u0000',
  '\t',
  'at 25:99',
  'in -5m',
  'in 99999d',
  'window ../x',
  'to',
  'now',
  'cmp-001,,cmp-002',
  '*',
  'label:',
  'evac-cmp-001:../',
  'NaN',
  '1e309',
];
const VERBS = [
  'help',
  'hosts',
  'plan',
  'evacuate',
  'migrate',
  'campaign',
  'status',
  'pause',
  'resume',
  'abort',
  'report',
];
const WORDS = ['cmp-001', 'db-01', 'now', 'at', 'in', 'window', 'to', 'reason', '02:00', '2h', 'nightly', ''];

function pick<T>(rnd: () => number, list: readonly T[]): T {
  return list[Math.floor(rnd() * list.length)]!;
}

function randomText(rnd: () => number): string {
  const parts: string[] = [];
  const n = Math.floor(rnd() * 6);
  if (rnd() < 0.6) parts.push(rnd() < 0.8 ? pick(rnd, VERBS) : pick(rnd, VERBS).toUpperCase());
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.4) parts.push(pick(rnd, HOSTILE));
    else if (r < 0.7) parts.push(pick(rnd, WORDS));
    else
      parts.push(
        String.fromCodePoint(
          ...Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => 1 + Math.floor(rnd() * 0x2fff)),
        ),
      );
  }
  return parts.join(rnd() < 0.9 ? ' ' : '  \n ');
}

function randomValue(rnd: () => number): string {
  const base: Record<string, unknown> =
    rnd() < 0.5
      ? { v: 2, planId: 'plan-abcdefgh12', nonce: 'abcdefgh1234' }
      : { v: 1, approvalId: 'evac-cmp-001-x:db-01:approval-1' };
  const r = rnd();
  if (r < 0.15) return pick(rnd, HOSTILE);
  if (r < 0.25) return JSON.stringify(base).slice(0, Math.floor(rnd() * 40));
  const mutated: Record<string, unknown> = { ...base };
  const key = pick(rnd, [...Object.keys(base), '__proto__', 'extra', 'v']);
  mutated[key] = pick<unknown>(rnd, [
    null,
    2,
    -1,
    '',
    'x'.repeat(3000),
    [],
    {},
    { kind: 'at', at: 1.5 },
    pick(rnd, HOSTILE),
    undefined,
  ]);
  return rnd() < 0.1 ? JSON.stringify(mutated).repeat(3) : JSON.stringify(mutated);
}

/** Would this input legitimately reach the engine? Those are not what this test is about. */
function reachesEngine(text: string, parsed: ParseResult, user: string): boolean {
  // `evacuate` alone opens an operator's form, which lists the engine's maintenance windows.
  if (tokenize(text).join(' ').toLowerCase() === 'evacuate') return user === alice;
  if (!parsed.ok || parsed.command.name === 'help') return false;
  const roles = [COMMAND_ROLE[parsed.command.name] ?? []].flat();
  return roles.length === 0 || user === alice || (user === bob && roles.includes('approver'));
}

/** Would this click legitimately do something (start, cancel or decide)? Not what this test is about. */
function legitimateClick(actionId: string, value: string, user: string): boolean {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return false;
  }
  if (actionId === ACTION.confirm || actionId === ACTION.cancel) {
    const p = confirmPayloadSchema.safeParse(json);
    // An operator's well-formed ticket reaches the engine, which refuses one it did not issue.
    return p.success && user === alice;
  }
  if (actionId === ACTION.approve || actionId === ACTION.reject)
    return approvalPayloadSchema.safeParse(json).success && user === bob;
  return false;
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

const HELPFUL =
  /safe live migration from Slack|Usage:|only ferry (operators|approvers)|not one of ferry’s|not what ferry sent|who asked for this plan|control characters|ferry reads at most|is not a ferry command|expected/;

describe('fuzzing the Slack surface', () => {
  let harness: Harness;
  const spy = spyService();
  beforeAll(async () => {
    harness = await startHarness({ mode: 'socket', service: spy.service });
  });
  afterAll(() => harness.stop());

  it(`answers ${COMMANDS} hostile commands and ${PAYLOADS} forged payloads privately, never calling the engine`, async () => {
    const { slack } = harness;
    const rnd = prng(20261124);
    const sent: Array<{ user: string; input: string; delivery: Delivery }> = [];
    const commands: Array<{ user: string; text: string }> = [];
    let skipped = 0;
    while (commands.length < COMMANDS) {
      // Spread over three people: none sends more than the harness's rate-limit burst (1000).
      const user = pick(rnd, [mallory, bob, alice]);
      const text = randomText(rnd);
      if (reachesEngine(text, parseCommand(text, { now: Date.now(), timezone: 'UTC' }), user)) skipped++;
      else commands.push({ user, text });
    }
    const actions: Array<{ user: string; actionId: string; value: string }> = [];
    const actionIds = [...Object.values(ACTION), 'ferry.plan.confirm ', 'x', '', '__proto__'];
    while (actions.length < PAYLOADS) {
      const user = pick(rnd, [alice, bob, mallory]);
      const actionId = pick(rnd, actionIds);
      const value = randomValue(rnd);
      if (legitimateClick(actionId, value, user)) skipped++;
      else actions.push({ user, actionId, value });
    }
    // Almost nothing random is a valid command: the generator is not testing the happy path.
    expect(skipped).toBeLessThan((COMMANDS + PAYLOADS) / 20);

    await inBatches(commands, 10, async ({ user, text }) => {
      sent.push({ user, input: text, delivery: await slack.slash(user, text, CHANNELS.ops) });
    });
    const where = { channel: CHANNELS.ops, ts: '1764000000.999999', text: 'x', blocks: [] };
    await inBatches(actions, 10, async ({ user, actionId, value }) => {
      const delivery = await slack.sendAction(user, where, { block_id: 'b', action_id: actionId, value });
      sent.push({ user, input: `${actionId} ${value}`, delivery });
    });

    const byUrl = () => {
      const answers = new Map<string | undefined, StoredMessage[]>();
      for (const m of slack.messages) answers.set(m.responseUrl, [...(answers.get(m.responseUrl) ?? []), m]);
      return answers;
    };
    await slack.waitFor(
      'an answer to every input',
      () => {
        const answered = byUrl();
        return sent.every((s) => answered.has(s.delivery.responseUrl));
      },
      60_000,
    );
    const answered = byUrl();
    for (const { user, input, delivery } of sent) {
      expect(delivery.status, input).toBe(200);
      const answers = answered.get(delivery.responseUrl) ?? [];
      expect(answers, input).toHaveLength(1);
      const [reply] = answers;
      expect(reply!.visibleTo, input).toBe(user);
      const text = textOf(reply!);
      expect(text, input).toMatch(HELPFUL);
      expect(reply!.text, input).not.toMatch(/<!(channel|here|everyone)/);
    }
    // Only the audit of refused attempts (no role, forged buttons) reaches the engine.
    expect(spy.calls.filter((c) => c !== 'recordRefusal')).toEqual([]);
    expect(slack.messages.filter((m) => !m.visibleTo)).toEqual([]);
  }, 120_000);
});
