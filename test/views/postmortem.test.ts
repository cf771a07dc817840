import { describe, expect, it } from 'vitest';
import { postMortem } from '../../src/engine/report.js';
import { MAX_TABLE_ROWS, postMortemMessage, reportMessage } from '../../src/views/postmortem.js';
import { messageToText } from '../../src/views/text.js';
import { limitViolations, plan, story } from './fixtures.js';

const timezone = 'Europe/London';
const names = { U0ALICE: 'alice', U0BOB: 'bob' };

describe('post-mortem view', () => {
  it('tells the whole story: outcome, duration vs plan, the table, failures, approvals, recommendations', async () => {
    const events = story(plan(6), { failEvery: 6 });
    const message = reportMessage(events, { timezone });
    const text = messageToText(message, names);
    await expect(text).toMatchFileSnapshot('__snapshots__/postmortem.txt');
    expect(limitViolations(message)).toEqual([]);
    expect(text).toContain('Outcome ⚠️ partial — 5 of 6 VMs moved, 1 stayed on cmp-042');
    expect(text).toMatch(/Duration 1m 07s against 1m 35s planned \(-29%\); no schedule beats 1m 00s/);
    // The table leads with what needs a reader: the failure, then the approved post-copy.
    const rows = text.split('\n').filter((l) => /^(web|db)-/.test(l));
    expect(rows[0]).toMatch(/^web-005 +cmp-105 +failed/);
    expect(rows[1]).toMatch(/^db-07 +cmp-101 +completed +postcopy +50 s +30 s +6 ms/);
    expect(rows).toHaveLength(6);
    expect(text).toContain('❌ web-005 failed moving to cmp-105 after 2 passes');
    expect(text).toContain('destination host cmp-105 stopped answering');
    expect(text).toContain('⛔ gpu-01 stayed: PCI passthrough (GPU) (not-migratable)');
    expect(text).toMatch(/✅ db-07 asked to switch to post-copy at .*: approved by @bob after 40 s/);
    expect(text).toMatch(/Recommendations\n• db-07 dirties 900 MiB\/s/);
    expect(message.text).toContain('Post-mortem: evacuation of cmp-042 — partial: 5 of 6 VMs moved');
  });

  it('says so when there is nothing to change', () => {
    const p = plan(2);
    p.blockers = [];
    const text = messageToText(reportMessage(story(p), { timezone }), names);
    expect(text).toContain('Outcome ✅ completed — 2 of 2 VMs moved');
    expect(text).toContain('Nothing to change');
    expect(text).not.toContain('What did not move');
    expect(text).not.toContain('Approvals');
  });

  it('keeps a 500-VM evacuation with many failures and approvals inside Slack’s limits', () => {
    const pm = postMortem(story(plan(500), { failEvery: 3, rejectEvery: 11 }));
    const failures = pm.migrations.filter((m) => m.state !== 'completed').length;
    expect(failures).toBeGreaterThan(100);
    expect(pm.approvals.length).toBeGreaterThan(40);
    const message = postMortemMessage(pm, { timezone });
    expect(limitViolations(message)).toEqual([]);
    const text = messageToText(message, names);
    // Every VM is accounted for: a table row, or counted in the note under the table.
    const rows = text.split('\n').filter((l) => /^(web|db)-\S+ +cmp-/.test(l));
    const more = /(\d+) more VMs not in the table/.exec(text);
    expect(rows.length).toBeLessThanOrEqual(MAX_TABLE_ROWS);
    expect(rows.length + Number(more?.[1])).toBe(500);
    // The group summary counts all 500 as well.
    const grouped = [...text.matchAll(/\*?(\d+) VMs?\*? (completed|failed|aborted|unfinished) \(/g)];
    expect(grouped.reduce((n, g) => n + Number(g[1]), 0)).toBe(500);
    // Failures that did not fit are counted, not dropped.
    const failureLines = text
      .split('\n')
      .filter((l) => /^(❌|↩️|⛔) \S+ (failed moving|aborted;|stayed:)/.test(l)).length;
    const moreFailures = Number(/… and (\d+) more VMs that did not move/.exec(text)?.[1] ?? 0);
    expect(moreFailures).toBeGreaterThan(0);
    expect(failureLines + moreFailures).toBe(failures + pm.stayed.length);
    const moreApprovals = Number(/… and (\d+) more approvals/.exec(text)?.[1] ?? 0);
    const approvalLines = text.split('\n').filter((l) => / asked to switch to post-copy /.test(l)).length;
    expect(approvalLines + moreApprovals).toBe(pm.approvals.length);
    expect(JSON.stringify(message.blocks).length).toBeLessThan(45_000);
  });
});
