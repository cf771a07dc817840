import { describe, expect, it } from 'vitest';
import { GiB } from '../../src/engine/model.js';
import { ACTION, confirmPayloadSchema } from '../../src/views/actions.js';
import { approvalPages } from '../../src/views/approval.js';
import { type Message, packLines } from '../../src/views/blocks.js';
import { noticeFor } from '../../src/views/notices.js';
import { planPreview } from '../../src/views/plan.js';
import { MAX_ROWS, progressMessage } from '../../src/views/progress.js';
import { helpMessage, hostsMessage, matches, windowsMessage } from '../../src/views/replies.js';
import { messageToText } from '../../src/views/text.js';
import { approval, confirm, evacuation, limitViolations, plan, T0 } from './fixtures.js';

const timezone = 'Europe/London';
const names = { U0ALICE: 'alice', U0BOB: 'bob' };

describe('views', () => {
  it('renders the plan preview with Confirm / Cancel carrying a valid payload', async () => {
    const message = planPreview([plan(5)], { timezone, confirm });
    await expect(messageToText(message, names)).toMatchFileSnapshot('__snapshots__/plan-preview.txt');
    const buttons = message.blocks.flatMap((b) => (b.type === 'actions' ? b.elements : []));
    expect(buttons.map((b) => b.action_id)).toEqual([ACTION.confirm, ACTION.cancel]);
    expect(confirmPayloadSchema.parse(JSON.parse(buttons[0]!.value))).toEqual(confirm.ticket);
    expect(limitViolations(message)).toEqual([]);
  });

  it('renders live progress with what needs attention first', async () => {
    const message = progressMessage(evacuation(8), { now: T0 + 30_000, timezone });
    const text = messageToText(message, names);
    await expect(text).toMatchFileSnapshot('__snapshots__/progress.txt');
    expect(text.indexOf('awaiting-approval')).toBeLessThan(text.indexOf('completed ·'));
  });

  it('keeps a 500-VM evacuation inside Slack’s limits and accounts for every VM', () => {
    const evac = evacuation(500);
    const message = progressMessage(evac, { now: T0 + 30_000, timezone });
    expect(limitViolations(message)).toEqual([]);
    const text = messageToText(message);
    const rows = text.split('\n').filter((l) => l.includes(' → '));
    const more = /… and (\d+) more VMs/.exec(text);
    expect(rows.length).toBeLessThanOrEqual(MAX_ROWS);
    expect(rows.length + Number(more?.[1] ?? 0)).toBe(500);
    expect(JSON.stringify(message.blocks).length).toBeLessThan(40_000);
    const preview = planPreview([plan(500)], { timezone, confirm });
    expect(limitViolations(preview)).toEqual([]);
    expect(preview.blocks.at(-1)!.type).toBe('actions');
  });

  it('packs lines into sections of at most 3,000 characters and reports what did not fit', () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(90)}`);
    const { blocks, omitted } = packLines(lines, 5);
    expect(blocks).toHaveLength(5);
    for (const b of blocks) expect(b.type === 'section' && b.text.text.length).toBeLessThanOrEqual(3000);
    const shown = blocks.reduce((n, b) => n + (b.type === 'section' ? b.text.text.split('\n').length : 0), 0);
    expect(shown + omitted).toBe(400);
  });

  it('renders one approval message per evacuation: the approvers mentioned, each waiting request with its buttons, and all', async () => {
    const options = { timezone, approvers: ['S0LEADS', 'U0BOB'] };
    const early = {
      ...approval,
      id: 'evac-cmp-042-1:db-08:pre-approval',
      instance: 'db-08',
      stage: 'early' as const,
      kind: 'pause' as const,
      covers: { dirtyBytesPerS: 990 * GiB, downtimeMs: 2530 },
    };
    const [page, ...more] = approvalPages(
      approval.evacuationId,
      [{ request: early }, { request: approval }],
      options,
    );
    expect(more).toEqual([]);
    await expect(messageToText(page!, names)).toMatchFileSnapshot('__snapshots__/approval-request.txt');
    expect(page!.text).toMatch(/^<!subteam\^S0LEADS> <@U0BOB> /);
    const buttons = page!.blocks.filter((b) => b.type === 'actions');
    // Approve all / Reject all, then one pair per request: the riskiest (post-copy) first.
    expect(buttons.map((b) => (b.type === 'actions' ? b.block_id : ''))).toEqual([
      'ferry.approval.all',
      'ferry.approval:db-07',
      'ferry.approval:db-08',
    ]);
    for (const block of buttons)
      if (block.type === 'actions')
        for (const element of block.elements) expect(element.confirm).toBeDefined();

    const decided = approvalPages(
      approval.evacuationId,
      [
        {
          request: approval,
          decision: {
            approvalId: approval.id,
            outcome: 'approved',
            decidedBy: 'U0BOB',
            decidedAt: T0 + 120_000,
          },
        },
      ],
      options,
    )[0]!;
    expect(messageToText(decided, names)).toContain('Approved by @bob');
    expect(decided.blocks.some((b) => b.type === 'actions')).toBe(false);
    const lapsed = approvalPages(
      approval.evacuationId,
      [
        {
          request: early,
          decision: { approvalId: early.id, outcome: 'expired', decidedBy: 'system', decidedAt: T0 },
        },
      ],
      options,
    )[0]!;
    expect(messageToText(lapsed)).toMatch(/Pre-approval lapsed .* asks again if it needs to/);
  });

  it('keeps a 200-request batch within Slack’s limits: the riskiest in the message, the rest paged into its thread', () => {
    const many = Array.from({ length: 200 }, (_, i) => ({
      request: {
        ...approval,
        id: `${approval.evacuationId}:vm-${i}:pre-approval`,
        instance: `vm-${String(i).padStart(3, '0')}`,
        kind: i % 50 === 0 ? ('postcopy' as const) : ('pause' as const),
        predictedDowntimeMs: 1000 + i,
      },
    }));
    const pages = approvalPages(approval.evacuationId, many, { timezone, approvers: ['S0LEADS'] });
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(limitViolations(page)).toEqual([]);
    const ids = (page: Message) =>
      page.blocks.flatMap((b) => (b.type === 'actions' ? [String(b.block_id)] : []));
    const shown = pages.flatMap((p) => ids(p).filter((id) => id.startsWith('ferry.approval:')));
    expect(shown).toHaveLength(200);
    // The four post-copy requests come first, then the longest pauses.
    const first = ids(pages[0]!).filter((id) => id !== 'ferry.approval.all');
    expect(first.slice(0, 5)).toEqual([
      'ferry.approval:vm-150',
      'ferry.approval:vm-100',
      'ferry.approval:vm-050',
      'ferry.approval:vm-000',
      'ferry.approval:vm-199',
    ]);
    expect(messageToText(pages[0]!)).toMatch(/more requests in this message's thread/);
  });

  it('turns only notable events into thread notices', () => {
    const base = { evacuationId: 'e', at: T0 };
    expect(
      noticeFor(
        {
          ...base,
          type: 'migration.failed',
          migrationId: 'm',
          instance: 'db-07',
          cause: 'link down',
          bytesSent: 0,
          passes: 1,
        },
        timezone,
      ),
    ).toContain('db-07');
    expect(noticeFor({ ...base, type: 'approval.requested', approval }, timezone)).toMatch(/needs approval/);
    const sample = {
      at: T0,
      status: 'active' as const,
      totalBytes: GiB,
      transferredBytes: 0,
      remainingBytes: GiB,
      dirtyBytesPerS: 0,
      bandwidthBytesPerS: 0,
      iteration: 1,
    };
    expect(
      noticeFor({ ...base, type: 'migration.progress', migrationId: 'm', instance: 'x', sample }, timezone),
    ).toBeUndefined();
  });

  it('lists hosts by glob, label or substring, and prints help', () => {
    const fleet = {
      hosts: [
        {
          name: 'cmp-001',
          vcpus: 64,
          memoryBytes: 512 * GiB,
          nicBytesPerS: 3.125e9,
          labels: ['rack-7'],
          schedulable: true,
        },
        {
          name: 'cmp-002',
          vcpus: 64,
          memoryBytes: 512 * GiB,
          nicBytesPerS: 3.125e9,
          labels: [],
          schedulable: false,
          disabledReason: 'draining',
        },
      ],
      instances: [
        { name: 'a', host: 'cmp-001', vcpus: 2, memoryBytes: 8 * GiB, migratable: true, dirtyBytesPerS: 0 },
      ],
    };
    expect(matches('cmp-00*', 'cmp-001', [])).toBe(true);
    expect(matches('label:rack-7', 'cmp-001', ['rack-7'])).toBe(true);
    expect(matches('002', 'cmp-001', [])).toBe(false);
    const text = messageToText(hostsMessage(fleet, undefined));
    expect(text).toContain('cmp-001 1 VM · 8 GiB of 512 GiB');
    expect(text).toContain('disabled (draining)');
    expect(messageToText(helpMessage(undefined, '/ferry'))).toContain('/ferry evacuate HOST');
  });

  it('lists maintenance windows with their days, hours and next opening, or says none are configured', () => {
    const now = Date.UTC(2026, 10, 28, 3, 0); // Saturday 03:00 London (GMT)
    const windows = [
      {
        name: 'saturday-night',
        timezone: 'Europe/London',
        days: ['saturday'],
        start: '02:00',
        end: '05:00',
        next: { name: 'saturday-night', start: Date.UTC(2026, 10, 28, 2), end: Date.UTC(2026, 10, 28, 5) },
      },
      {
        name: 'nightly',
        timezone: 'UTC',
        days: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'],
        start: '22:00',
        end: '02:00',
        next: { name: 'nightly', start: Date.UTC(2026, 10, 28, 22), end: Date.UTC(2026, 10, 29, 2) },
      },
    ];
    const text = messageToText(
      windowsMessage(windows, { now, timezone: 'Europe/London', command: '/ferry' }),
    );
    expect(text).toContain('== 2 maintenance windows ==');
    expect(text).toContain(
      'saturday-night sat 02:00–05:00 Europe/London · 🟢 open now, until 2026-11-28 05:00',
    );
    expect(text).toContain('nightly every day 22:00–02:00 UTC · next 2026-11-28 22:00 Europe/London');
    expect(text).toContain('/ferry evacuate HOST window NAME');
    expect(messageToText(windowsMessage([], { now, timezone: 'UTC', command: '/ferry' }))).toContain(
      'No maintenance windows are configured',
    );
  });
});
