import { describe, expect, it } from 'vitest';
import { defaultPolicy, type PolicyConfig } from '../../../src/engine/config.js';
import {
  askedEarly,
  coverage,
  earlyRequests,
  type PreApproval,
} from '../../../src/engine/evacuation/early.js';
import { decide, initialWatch, type WatchedMigration } from '../../../src/engine/evacuation/policy.js';
import {
  type ApprovalDecision,
  GiB,
  MiB,
  type Move,
  type Plan,
  POSTCOPY_DOWNTIME_MS,
  type ProgressSample,
  type Strategy,
} from '../../../src/engine/model.js';

/** Asking early, as pure functions: which moves are asked, what a pre-approval covers, and what the policy does with one. */

const T0 = Date.UTC(2026, 0, 1, 2, 0, 0);
const at = (s: number) => T0 + s * 1000;
const policy: PolicyConfig = { ...defaultPolicy, preApprovalMarginPct: 10, preApprovalMaxS: 3600 };

function move(instance: string, strategy: Strategy, fields: Partial<Move> = {}): Move {
  return {
    instance,
    from: 'hv1',
    to: 'hv2',
    memoryBytes: 16 * GiB,
    dirtyBytesPerS: 1200 * MiB,
    downtimeSloMs: 300,
    prediction: {
      converges: true,
      strategy,
      passes: 2,
      bytesSent: 20 * GiB,
      durationMs: 30_000,
      downtimeMs: strategy === 'pause' ? 2300 : strategy === 'postcopy' ? POSTCOPY_DOWNTIME_MS : 200,
      bandwidthBytesPerS: GiB,
    },
    ...fields,
  };
}

const plan: Plan = {
  source: 'hv1',
  moves: [
    move('web-1', 'precopy'),
    move('db-1', 'postcopy'),
    move('db-2', 'pause'),
    move('db-3', 'postcopy', { switchoverRefused: 'the server is PAUSED' }),
    move('cache-1', 'auto-converge'),
  ],
  blockers: [],
  lowerBoundMs: 0,
  predictedMakespanMs: 0,
};
const request = { id: 'evac-1', requestedBy: 'U_ALICE' };

describe('which moves are asked when an evacuation is confirmed', () => {
  it('asks for every move predicted to need post-copy or pause, and none the back end refuses', () => {
    expect(askedEarly(plan, policy)).toEqual(['db-1', 'db-2']);
  });

  it('asks for nothing with askEarly off, and never for a switchover the policy would not propose', () => {
    expect(askedEarly(plan, { ...policy, askEarly: false })).toEqual([]);
    expect(askedEarly(plan, { ...policy, allowPause: false })).toEqual(['db-1']);
  });

  it('gives each request the plan’s facts, what they cover with the margin, and a life up to the maximum', () => {
    const [db1, db2] = earlyRequests(request, plan, policy, at(0));
    expect(db1).toMatchObject({
      id: 'evac-1:db-1:pre-approval',
      migrationId: 'evac-1:db-1',
      stage: 'early',
      kind: 'postcopy',
      requestedBy: 'U_ALICE',
      expiresAt: at(3600),
      dirtyBytesPerS: 1200 * MiB,
      covers: { dirtyBytesPerS: Math.ceil(1320 * MiB), downtimeMs: 11 },
    });
    expect(db2).toMatchObject({ kind: 'pause', predictedDowntimeMs: 2300, covers: { downtimeMs: 2530 } });
    expect(db2!.risk).toContain('stopped for about 2300 ms');
  });

  it('asks post-copy for a move that converges alone but is better post-copied, unless post-copy is off', () => {
    const hog = move('cache-2', 'precopy', {});
    hog.prediction = { ...hog.prediction, downtimeMs: 450, postcopySavesBytes: 20 * GiB };
    const refused = { ...hog, instance: 'cache-3', switchoverRefused: 'the server is PAUSED' };
    const withHog = { ...plan, moves: [...plan.moves, hog, refused] };
    expect(askedEarly(withHog, policy)).toEqual(['db-1', 'db-2', 'cache-2']);
    expect(askedEarly(withHog, { ...policy, allowPostCopy: false })).toEqual(['db-2']);
    const asked = earlyRequests(request, withHog, policy, at(0)).find((r) => r.instance === 'cache-2');
    // Post-copy's downtime, not that of the pre-copy it would replace.
    expect(asked).toMatchObject({ kind: 'postcopy', predictedDowntimeMs: POSTCOPY_DOWNTIME_MS });
    // The approver is told why a move that converges alone is asked at all.
    expect(asked!.risk).toMatch(
      /its pre-copy would send 1\.3× its memory, post-copy sends it once; rejected, it moves by pre-copy$/,
    );
  });

  it('never lasts past the maintenance window', () => {
    const window = { start: at(0), end: at(600) };
    expect(earlyRequests({ ...request, window }, plan, policy, at(0))[0]!.expiresAt).toBe(at(600));
  });
});

describe('whether a pre-approval covers the switchover needed now', () => {
  const [early] = earlyRequests(request, plan, policy, at(0));
  const approved: ApprovalDecision = {
    approvalId: early!.id,
    outcome: 'approved',
    decidedBy: 'U_BOB',
    decidedAt: at(5),
  };
  const pre = (decision?: Partial<ApprovalDecision>): PreApproval => ({
    request: early!,
    decision: decision && { ...approved, ...decision },
  });
  const postcopy = { kind: 'postcopy' as const, downtimeMs: POSTCOPY_DOWNTIME_MS };

  it('covers an approved one while the live facts are within what it covers', () => {
    expect(coverage(pre({}), postcopy, { dirtyBytesPerS: 1300 * MiB }, at(60))).toEqual({
      covered: true,
      why: 'pre-approved by U_BOB',
    });
  });

  it('does not cover when the guest dirties more than approved, and says so', () => {
    const verdict = coverage(pre({}), postcopy, { dirtyBytesPerS: 1500 * MiB }, at(60));
    expect(verdict.covered).toBe(false);
    expect(verdict.why).toBe('dirties 1500 MiB/s now, more than the 1320 MiB/s pre-approved');
  });

  it('does not cover a longer predicted downtime, nor another kind of switchover', () => {
    expect(
      coverage(pre({}), { kind: 'postcopy', downtimeMs: 12 }, { dirtyBytesPerS: 0 }, at(60)),
    ).toMatchObject({
      covered: false,
      why: 'predicted downtime 12 ms, more than the 11 ms pre-approved',
    });
    expect(coverage(pre({}), { kind: 'pause', downtimeMs: 5 }, { dirtyBytesPerS: 0 }, at(60))).toMatchObject({
      covered: false,
      why: 'pre-approved for postcopy, but pause is needed now',
    });
  });

  it('does not cover one rejected, lapsed, past its life, decided late, or undecided', () => {
    const live = { dirtyBytesPerS: 1200 * MiB };
    expect(coverage(pre({ outcome: 'rejected' }), postcopy, live, at(60)).covered).toBe(false);
    expect(coverage(pre({ outcome: 'expired', decidedBy: 'system' }), postcopy, live, at(60)).covered).toBe(
      false,
    );
    expect(coverage(pre({}), postcopy, live, at(3600)).covered).toBe(false);
    expect(coverage(pre({ decidedAt: at(3600) }), postcopy, live, at(60)).covered).toBe(false);
    expect(coverage(pre(), postcopy, live, at(60))).toEqual({ covered: false });
    expect(coverage(undefined, postcopy, live, at(60))).toEqual({ covered: false });
  });

  it('cannot show an unmeasured dirty rate to be worse, and says it was not measured', () => {
    expect(coverage(pre({}), postcopy, { dirtyBytesPerS: 0 }, at(60))).toEqual({
      covered: true,
      why: 'pre-approved by U_BOB (dirty rate not measured yet)',
    });
  });
});

describe('the policy with a pre-approval', () => {
  const db: WatchedMigration = {
    id: 'evac-1:db-1',
    instance: 'db-1',
    memoryBytes: 16 * GiB,
    downtimeSloMs: 300,
    plannedStrategy: 'postcopy',
  };
  const [early] = earlyRequests(request, plan, policy, at(0));
  const sample = (s: number, fields: Partial<ProgressSample> = {}): ProgressSample => ({
    at: at(s),
    status: 'active',
    totalBytes: db.memoryBytes,
    transferredBytes: 16 * GiB,
    remainingBytes: 4 * GiB,
    dirtyBytesPerS: 1250 * MiB,
    bandwidthBytesPerS: GiB,
    iteration: 2,
    ...fields,
  });
  const step = (preApproval: PreApproval | undefined, fields: Partial<ProgressSample> = {}) =>
    decide({
      policy,
      migration: db,
      watch: initialWatch(policy, db, at(0)),
      sample: sample(20, fields),
      now: at(20),
      preApproval,
    });
  const approved: ApprovalDecision = {
    approvalId: early!.id,
    outcome: 'approved',
    decidedBy: 'U_BOB',
    decidedAt: at(5),
  };

  it('switches over at the first moment it is needed, without asking anyone', () => {
    const next = step({ request: early!, decision: approved });
    expect(next.actions.map((a) => a.kind)).toEqual(['tune', 'switchover']);
    expect(next.actions.at(-1)).toMatchObject({ kind: 'switchover', switchover: 'postcopy' });
    expect(next.actions.at(-1)!.why).toMatch(/pre-approved by U_BOB$/);
    expect(next.watch).toMatchObject({ switchedOver: 'postcopy', approvalsAsked: 0, preApprovalSpent: true });
  });

  // The first pass: pages flowing, what is left (never more than the memory) well within the
  // approved 16 GiB at 1 GiB/s, the dirty rate not measured yet.
  const firstPass = { iteration: 1, transferredBytes: 2 * GiB, remainingBytes: 15 * GiB, dirtyBytesPerS: 0 };

  it('switches a pre-approved post-copy over during the first pass, as soon as pages flow', () => {
    const next = step({ request: early!, decision: approved }, firstPass);
    expect(next.actions.filter((a) => a.kind !== 'tune')).toEqual([
      {
        kind: 'switchover',
        switchover: 'postcopy',
        why: 'post-copy from the first pass (each page sent once); pre-approved by U_BOB (dirty rate not measured yet)',
      },
    ]);
    expect(next.watch).toMatchObject({ switchedOver: 'postcopy', approvalsAsked: 0, preApprovalSpent: true });
  });

  it('waits in the first pass without a usable pre-approval, and asks nobody then', () => {
    for (const pre of [
      undefined,
      { request: early! },
      { request: early!, decision: { ...approved, outcome: 'rejected' as const } },
    ]) {
      const next = step(pre, firstPass);
      expect(next.actions.filter((a) => a.kind !== 'tune')).toEqual([]);
      expect(next.watch.preApprovalSpent).toBeUndefined();
    }
    // No page moved yet: nothing to switch over.
    const none = step({ request: early!, decision: approved }, { ...firstPass, transferredBytes: 0 });
    expect(none.actions.filter((a) => a.kind !== 'tune')).toEqual([]);
  });

  it('does not switch in the first pass when post-copy would be exposed longer than approved', () => {
    // 16 GiB left at a third of the approved bandwidth: three times the risk window approved.
    const slow = { ...firstPass, remainingBytes: 16 * GiB, bandwidthBytesPerS: GiB / 3 };
    const next = step({ request: early!, decision: approved }, slow);
    expect(next.actions.filter((a) => a.kind !== 'tune')).toEqual([]);
    expect(next.watch.preApprovalSpent).toBeUndefined();
  });

  it('switches a move that converges alone but is better post-copied, when pre-approved', () => {
    const hog: WatchedMigration = { ...db, plannedStrategy: 'precopy', postcopyPreferred: true };
    const pre = { request: early!, decision: approved };
    const run = (m: WatchedMigration, p?: PreApproval) =>
      decide({
        policy,
        migration: m,
        watch: initialWatch(policy, m, at(0)),
        sample: sample(20, firstPass),
        now: at(20),
        preApproval: p,
      });
    expect(run(hog, pre).actions.at(-1)).toMatchObject({ kind: 'switchover', switchover: 'postcopy' });
    // Without the preference, or without a pre-approval, it is an ordinary pre-copy.
    expect(
      run({ ...hog, postcopyPreferred: undefined }, pre).actions.filter((a) => a.kind !== 'tune'),
    ).toEqual([]);
    expect(run(hog).actions.filter((a) => a.kind !== 'tune')).toEqual([]);
  });

  it('asks again, with the live facts, when they are worse than approved', () => {
    const next = step({ request: early!, decision: approved }, { dirtyBytesPerS: 1600 * MiB });
    const ask = next.actions.find((a) => a.kind === 'escalate');
    expect(ask).toMatchObject({ switchover: 'postcopy', approvalId: 'evac-1:db-1:approval-1' });
    expect(ask!.why).toContain('more than the 1320 MiB/s pre-approved');
    expect(next.watch.switchedOver).toBeUndefined();
  });

  it('takes the live path when it was rejected: asks now', () => {
    const next = step({ request: early!, decision: { ...approved, outcome: 'rejected' } });
    expect(next.actions.map((a) => a.kind)).toContain('escalate');
    expect(next.actions.map((a) => a.kind)).not.toContain('switchover');
  });

  it('lapses one still undecided when its move needs it, and asks now', () => {
    const next = step({ request: early! });
    expect(next.actions.map((a) => a.kind)).toEqual(['tune', 'lapse', 'escalate']);
    expect(next.actions[1]).toMatchObject({ approvalId: early!.id });
  });

  it('weighs it once: spent, it is not looked at again', () => {
    const watch = { ...initialWatch(policy, db, at(0)), preApprovalSpent: true };
    const next = decide({
      policy,
      migration: db,
      watch,
      sample: sample(20),
      now: at(20),
      preApproval: { request: early!, decision: approved },
    });
    expect(next.actions.map((a) => a.kind)).toContain('escalate');
  });
});
