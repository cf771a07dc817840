import { describe, expect, it } from 'vitest';
import type { FerryEvent, Fleet, Plan } from '../../src/engine/model.js';
import { GiB } from '../../src/engine/model.js';
import { approvalPages } from '../../src/views/approval.js';
import { type Block, clip, LIMITS, type Message, textLength } from '../../src/views/blocks.js';
import { noticeFor } from '../../src/views/notices.js';
import { planDecided, planPreview } from '../../src/views/plan.js';
import { reportView } from '../../src/views/postmortem.js';
import { progressMessage } from '../../src/views/progress.js';
import { errorMessage, evacuationListMessage, hostsMessage, usageError } from '../../src/views/replies.js';
import { messageToText } from '../../src/views/text.js';
import {
  approval,
  evacuation,
  limitViolations,
  confirm as plainConfirm,
  plan,
  story,
  T0,
} from './fixtures.js';

/**
 * Slack-side safety of every view: text that users and tenants control (a VM named by a cloud
 * tenant, a reason, a cause from a driver) can neither mention, broadcast nor link, whatever
 * backticks it holds; and every message stays within Slack's limits, the total text included.
 */

const timezone = 'UTC';
/** Everything Slack's mrkdwn would turn live, and a backtick to break out of inline code. */
const HOSTILE = 'x`<!channel> <@U0MALLORY> <https://evil.example|click> & <#C0OPS>`';
const confirm = { ...plainConfirm, reason: HOSTILE };

function hostilePlan(): Plan {
  const p = plan(4);
  p.source = `cmp${HOSTILE}`;
  p.moves = p.moves.map((m, i) => ({
    ...m,
    instance: `${HOSTILE}-${i}`,
    to: `dst${HOSTILE}`,
    prediction: { ...m.prediction, note: HOSTILE },
  }));
  p.blockers = [{ instance: HOSTILE, code: 'not-migratable', reason: HOSTILE }];
  p.window = { name: HOSTILE, start: T0, end: T0 + 3600_000 };
  return p;
}

/** Every mrkdwn text of a message: the fallback, sections and context elements (headers are plain_text). */
function mrkdwnOf(message: Message): string[] {
  const texts = [message.text];
  const walk = (block: Block) => {
    if (block.type === 'section') texts.push(block.text.text);
    if (block.type === 'context') texts.push(...block.elements.map((e) => e.text));
  };
  message.blocks.forEach(walk);
  return texts;
}

/** What is live in mrkdwn: `<…>` sequences other than ferry's own mentions, and bare `&`. */
function liveMarkup(message: Message): string[] {
  const found: string[] = [];
  for (const text of mrkdwnOf(message)) {
    for (const m of text.matchAll(/<[^>]*>/g))
      if (!/^<@U0(ALICE|BOB)>$|^<#C0OPS>$/.test(m[0]) || text.includes(`${m[0]}\``)) found.push(m[0]);
    for (const m of text.matchAll(/&(?!amp;|lt;|gt;)/g)) found.push(`bare & at ${m.index}`);
    if ((text.match(/`/g) ?? []).length % 2 !== 0) found.push(`odd backticks in: ${text.slice(0, 80)}`);
  }
  return found;
}

describe('views with hostile names and reasons', () => {
  const p = hostilePlan();
  const evac = evacuation(6);
  evac.request = { ...evac.request, source: p.source, reason: HOSTILE };
  evac.plan = p;
  evac.migrations = evac.migrations.map((m, i) => ({
    ...m,
    instance: `${HOSTILE}-${i}`,
    to: `dst${HOSTILE}`,
    ...(m.state === 'failed' ? { cause: HOSTILE } : {}),
  }));
  const request = { ...approval, instance: HOSTILE, risk: HOSTILE };
  const fleet: Fleet = {
    hosts: [
      {
        name: `cmp${HOSTILE}`,
        vcpus: 8,
        memoryBytes: 64 * GiB,
        nicBytesPerS: 1e9,
        labels: [HOSTILE],
        schedulable: false,
        disabledReason: HOSTILE,
      },
    ],
    instances: [
      {
        name: HOSTILE,
        host: `cmp${HOSTILE}`,
        vcpus: 1,
        memoryBytes: GiB,
        migratable: true,
        dirtyBytesPerS: 0,
      },
    ],
  };
  const base = { evacuationId: 'evac-1', at: T0 };
  const mig = { ...base, migrationId: 'evac-1:x', instance: HOSTILE };
  const events: FerryEvent[] = [
    { ...mig, type: 'migration.tuned', autoConverge: true, why: HOSTILE },
    { ...base, type: 'approval.requested', approval: request },
    {
      ...base,
      type: 'approval.decided',
      instance: HOSTILE,
      decision: { approvalId: request.id, outcome: 'approved', decidedBy: 'U0BOB', decidedAt: T0 },
    },
    { ...mig, type: 'migration.switchover', kind: 'postcopy' },
    { ...mig, type: 'migration.failed', cause: HOSTILE, bytesSent: 0, passes: 1 },
    { ...mig, type: 'migration.aborted', cause: HOSTILE, bytesSent: 0, passes: 1 },
  ];
  const report = reportView(story(p, { failEvery: 2, rejectEvery: 3 }), { timezone });

  const views: Array<[string, Message]> = [
    ['plan preview', planPreview([p], { timezone, confirm })],
    ['campaign preview', planPreview([p, p], { timezone, confirm })],
    ['plan decided', planDecided(`Plan: drain ${p.source}`, 'Cancelled')],
    ['progress', progressMessage(evac, { now: T0 + 30_000, timezone })],
    ['evacuation list', evacuationListMessage([evac], timezone)],
    ['hosts', hostsMessage(fleet, undefined)],
    [
      'approval message',
      approvalPages(
        request.evacuationId,
        [
          { request },
          {
            request: { ...request, id: `${request.id}-2` },
            decision: { approvalId: request.id, outcome: 'rejected', decidedBy: 'U0BOB', decidedAt: T0 },
          },
        ],
        // ferry's own mention of the approvers is live; nothing else is.
        { timezone, approvers: ['U0BOB'] },
      )[0]!,
    ],
    ['post-mortem', report.message],
    ...report.thread.map((page, i) => [`post-mortem page ${i + 1}`, page] as [string, Message]),
    // Errors keep user mentions (ferry writes them with `who`); a mention is not a broadcast.
    [
      'error',
      errorMessage(`Nova has no server named ${HOSTILE.replace('<@U0MALLORY>', '')}; ask <@U0ALICE>`),
    ],
    ['usage error', usageError(`"${HOSTILE}" is not a ferry command`, '/ferry help')],
    ...events.map((event) => {
      const notice = noticeFor(event, timezone)!;
      return [`notice ${event.type}`, { text: notice, blocks: [] }] as [string, Message];
    }),
  ];

  it.each(views)('%s: nothing the user or tenant wrote is live', (_, message) => {
    expect(liveMarkup(message)).toEqual([]);
    expect(limitViolations(message)).toEqual([]);
    // The text still says what it is about, readably.
    expect(messageToText(message)).toContain('<!channel>');
  });

  it('keeps the mentions ferry means', () => {
    const text = mrkdwnOf(errorMessage('only <@U0ALICE>, who asked, may confirm; not <!channel>'));
    expect(text.join('\n')).toContain('<@U0ALICE>');
    expect(text.join('\n')).not.toContain('<!channel>');
  });
});

describe('message size', () => {
  it('keeps a 200-VM plan preview and a 12-host campaign within 12,000 characters and 50 blocks', () => {
    const preview = planPreview([plan(200)], { timezone, confirm });
    expect(limitViolations(preview)).toEqual([]);
    expect(textLength(preview.blocks)).toBeLessThanOrEqual(LIMITS.messageText);
    const text = messageToText(preview);
    const shown = text.split('\n').filter((l) => / → /.test(l)).length;
    const more = Number(/… and (\d+) more lines/.exec(text)?.[1]);
    expect(shown + more).toBe(201); // 200 moves and the blocker
    expect(preview.blocks.at(-1)!.type).toBe('actions');

    const campaign = planPreview(
      Array.from({ length: 12 }, () => plan(40)),
      { timezone, confirm },
    );
    expect(limitViolations(campaign)).toEqual([]);
    expect(
      campaign.blocks.filter((b) => b.type === 'section' && /^\*cmp-042\*\n/.test(b.text.text)),
    ).toHaveLength(12);
  });

  it('summarises a 200-VM post-mortem in the message and pages the whole table into its thread', () => {
    const view = reportView(story(plan(200), { failEvery: 3, rejectEvery: 11 }), { timezone });
    expect(limitViolations(view.message)).toEqual([]);
    expect(messageToText(view.message)).toMatch(
      /more VMs not in the table: .*; the thread has the whole table/,
    );
    expect(view.thread.length).toBeGreaterThan(1);
    for (const page of view.thread) expect(limitViolations(page)).toEqual([]);
    const rows = view.thread.flatMap((page) =>
      messageToText(page)
        .split('\n')
        .filter((l) => /^(web|db)-\S+ +cmp-/.test(l)),
    );
    expect(new Set(rows.map((r) => r.split(/\s+/)[0])).size).toBe(200);
    // A small evacuation's table fits the message: no thread.
    expect(reportView(story(plan(6)), { timezone }).thread).toEqual([]);
  });

  it('keeps a 500-VM progress message within the total text budget', () => {
    const message = progressMessage(evacuation(500), { now: T0, timezone });
    expect(textLength(message.blocks)).toBeLessThanOrEqual(LIMITS.messageText);
  });
});

describe('clip', () => {
  it('cuts between code points, never leaving half a surrogate pair', () => {
    const text = '🙂'.repeat(10);
    for (let max = 1; max < 20; max++) {
      const cut = clip(text, max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
  });

  it('never cuts an escaped entity in two', () => {
    const text = 'a&amp;b&lt;c&gt;d'.repeat(5);
    for (let max = 2; max < text.length; max++) {
      const cut = clip(text, max).replace(/…$/, '');
      expect(cut).not.toMatch(/&(?!amp;|lt;|gt;)/);
      expect(cut.length).toBeLessThan(max);
    }
  });
});
