import { describe, expect, it } from 'vitest';
import { defaultPolicy, type PolicyConfig } from '../../../src/engine/config.js';
import {
  completionTimeoutMs,
  decide,
  downtimeRamp,
  initialTuning,
  initialWatch,
  type PolicyAction,
  policyForDriver,
  type WatchedMigration,
} from '../../../src/engine/evacuation/policy.js';
import {
  type ApprovalDecision,
  GiB,
  MiB,
  POSTCOPY_DOWNTIME_MS,
  type ProgressSample,
} from '../../../src/engine/model.js';
import type { WatchState } from '../../../src/engine/ports.js';

const T0 = Date.UTC(2026, 0, 1, 2, 0, 0);
const at = (s: number) => T0 + s * 1000;

const vm: WatchedMigration = {
  id: 'evac-1:vm-a',
  instance: 'vm-a',
  memoryBytes: 4 * GiB,
  downtimeSloMs: 500,
};

function policyWith(overrides: Partial<PolicyConfig>): PolicyConfig {
  return { ...defaultPolicy, ...overrides };
}

/** A quiet guest: 1 GiB/s of bandwidth, 100 MiB/s of dirtying, measured. */
function sample(s: number, fields: Partial<ProgressSample> = {}): ProgressSample {
  return {
    at: at(s),
    status: 'active',
    totalBytes: vm.memoryBytes,
    transferredBytes: 0,
    remainingBytes: vm.memoryBytes,
    dirtyBytesPerS: 100 * MiB,
    bandwidthBytesPerS: GiB,
    iteration: 1,
    ...fields,
  };
}

/** Remaining bytes that keep falling, never quite reaching zero (no completion, no stall). */
const falling = (m: WatchedMigration, durationS: number) => (s: number) =>
  Math.round(m.memoryBytes * (1 - (0.9 * s) / durationS));

interface Story {
  policy?: PolicyConfig;
  migration?: WatchedMigration;
  /** Seconds after T0, inclusive, one sample a second. */
  from?: number;
  to: number;
  watch?: WatchState;
  sampleAt?: (s: number) => Partial<ProgressSample>;
  decisionAt?: (s: number, watch: WatchState) => ApprovalDecision | undefined;
  /** Round-trips the stored state through JSON before every step, as a store would. */
  persist?: boolean;
}

interface Told {
  s: number;
  action: PolicyAction;
}

/** Drives the policy through one sample a second and collects what it said, and when. */
function run(story: Story): { told: Told[]; watch: WatchState } {
  const policy = story.policy ?? defaultPolicy;
  const migration = story.migration ?? vm;
  let watch = story.watch ?? initialWatch(policy, migration, T0);
  const told: Told[] = [];
  for (let s = story.from ?? 1; s <= story.to; s++) {
    if (story.persist) watch = JSON.parse(JSON.stringify(watch)) as WatchState;
    const decision = story.decisionAt?.(s, watch);
    const step = decide({
      policy,
      migration,
      watch,
      sample: sample(s, story.sampleAt?.(s)),
      now: at(s),
      decision,
    });
    for (const action of step.actions) told.push({ s, action });
    watch = step.watch;
  }
  return { told, watch };
}

/** What was said and when, leaving out the downtime ramp: `150:auto-converge`, `300:escalate`. */
const story = (told: Told[]) =>
  told
    .filter((t) => !(t.action.kind === 'tune' && t.action.downtimeLimitMs !== undefined))
    .map((t) => `${t.s}:${t.action.kind === 'tune' ? 'auto-converge' : t.action.kind}`);
const only = (told: Told[], kind: PolicyAction['kind']) => told.filter((t) => t.action.kind === kind);

/** Never measured, never moving: remaining stays at the whole memory. */
const flat = () => ({ remainingBytes: vm.memoryBytes });
const noAutoConverge = policyWith({ allowAutoConverge: false });

describe('downtime ramp', () => {
  it("follows Nova's 50..500 ms in 10 steps by default", () => {
    expect(downtimeRamp(defaultPolicy, 500)).toEqual([50, 100, 150, 200, 250, 300, 350, 400, 450, 500]);
  });

  it("ends at an instance's SLO lower than the policy's, never above it", () => {
    const ramp = downtimeRamp(defaultPolicy, 200);
    expect(ramp).toHaveLength(10);
    expect(ramp[0]).toBe(50);
    expect(ramp.at(-1)).toBe(200);
    expect(Math.max(...ramp)).toBe(200);
  });

  it('is just the SLO when the SLO is under the ramp start, or with a single step', () => {
    expect(downtimeRamp(defaultPolicy, 30)).toEqual([30]);
    expect(downtimeRamp(policyWith({ downtimeRampStartMs: 300, downtimeRampSteps: 1 }), 300)).toEqual([300]);
  });

  it('drops the duplicates rounding makes on a narrow range', () => {
    expect(downtimeRamp(defaultPolicy, 53)).toEqual([50, 51, 52, 53]);
  });

  it('raises the limit one step every downtimeRampStepS until the SLO, then stops', () => {
    const { told, watch } = run({
      policy: noAutoConverge,
      to: 80,
      sampleAt: (s) => ({ remainingBytes: falling(vm, 100)(s) }),
    });
    expect(told.map((t) => [t.s, t.action])).toEqual(
      [100, 150, 200, 250, 300, 350, 400, 450, 500].map((ms, i) => [
        5 * (i + 1),
        { kind: 'tune', downtimeLimitMs: ms, why: `raise downtime limit to ${ms} ms (step ${i + 2}/10)` },
      ]),
    );
    expect(told[1]!.action).toMatchObject({ why: 'raise downtime limit to 150 ms (step 3/10)' });
    expect(watch).toMatchObject({ rampStep: 9, downtimeLimitMs: 500, lastRampAt: at(45) });
  });

  it("caps the ramp at the instance's own SLO", () => {
    const small: WatchedMigration = { ...vm, downtimeSloMs: 200 };
    const { told, watch } = run({
      policy: noAutoConverge,
      migration: small,
      to: 80,
      sampleAt: (s) => ({ remainingBytes: falling(vm, 100)(s) }),
    });
    const limits = only(told, 'tune').map((t) => (t.action as { downtimeLimitMs: number }).downtimeLimitMs);
    expect(limits.at(-1)).toBe(200);
    expect(Math.max(...limits)).toBe(200);
    expect(watch.downtimeLimitMs).toBe(200);
  });

  it('catches up on the steps missed while nobody watched, in one tune', () => {
    const watch = initialWatch(defaultPolicy, vm, T0);
    const step = decide({ policy: defaultPolicy, migration: vm, watch, sample: sample(17), now: at(17) });
    expect(step.actions).toEqual([
      { kind: 'tune', downtimeLimitMs: 200, why: 'raise downtime limit to 200 ms (step 4/10)' },
    ]);
    // The cadence stays anchored to the start: the next step is due at 20 s, not 22 s.
    expect(step.watch.lastRampAt).toBe(at(15));
  });
});

describe('starting a migration', () => {
  it('arms the ramp start, auto-converge off, post-copy capability as the policy allows', () => {
    expect(initialTuning(defaultPolicy, vm, 500 * MiB)).toEqual({
      downtimeLimitMs: 50,
      maxBandwidthBytesPerS: 500 * MiB,
      autoConverge: false,
      postcopyCapable: true,
    });
    expect(initialTuning(policyWith({ allowPostCopy: false }), vm)).toMatchObject({ postcopyCapable: false });
    expect(initialTuning(defaultPolicy, { ...vm, downtimeSloMs: 30 }).downtimeLimitMs).toBe(30);
  });

  it('starts watching with the whole memory as the lowest remaining', () => {
    expect(initialWatch(defaultPolicy, vm, T0)).toEqual({
      startedAt: T0,
      rampStep: 0,
      lastRampAt: T0,
      downtimeLimitMs: 50,
      autoConverge: false,
      bestRemainingBytes: vm.memoryBytes,
      bestRemainingAt: T0,
      approvalsAsked: 0,
    });
  });
});

describe('auto-converge', () => {
  const hot = (s: number) => ({ remainingBytes: falling(vm, 1000)(s), dirtyBytesPerS: 2 * GiB });

  it('is enabled once when the guest dirties memory at least as fast as the link sends it', () => {
    const { told, watch } = run({ to: 30, sampleAt: hot });
    const enabled = only(told, 'tune').filter((t) => t.action.kind === 'tune' && t.action.autoConverge);
    expect(enabled).toHaveLength(1);
    expect(enabled[0]).toMatchObject({
      s: 1,
      action: { autoConverge: true, why: expect.stringContaining('dirties 2048 MiB/s') },
    });
    expect(watch).toMatchObject({ autoConverge: true, autoConvergeAt: at(1) });
  });

  it('is never enabled when the policy forbids it', () => {
    const { told } = run({ policy: noAutoConverge, to: 30, sampleAt: hot });
    expect(told.some((t) => t.action.kind === 'tune' && t.action.autoConverge !== undefined)).toBe(false);
  });

  it('is enabled when the ramp is exhausted and the expected downtime is still over the SLO', () => {
    // Falling steadily (no stall), but 2 GiB still left at 1 GiB/s is 2 s of downtime > 500 ms.
    const { told } = run({
      to: 60,
      sampleAt: (s) => ({ remainingBytes: falling(vm, 100)(s), iteration: 3 }),
    });
    const enabled = told.filter((t) => t.action.kind === 'tune' && t.action.autoConverge);
    expect(enabled).toHaveLength(1);
    expect(enabled[0]!.s).toBe(45); // the last ramp step
    expect(enabled[0]!.action.why).toMatch(/expected downtime \d+ ms is over the 500 ms SLO/);
  });

  it('does not judge the expected downtime during the first pass of a large guest', () => {
    // A big VM is still sending its memory once when the ramp ends: that is not a failure to converge.
    const { told } = run({
      to: 60,
      sampleAt: (s) => ({ remainingBytes: falling(vm, 100)(s), iteration: 1 }),
    });
    expect(told.filter((t) => t.action.kind === 'tune' && t.action.autoConverge)).toHaveLength(0);
  });

  it('trusts the driver estimate of expected downtime when there is no bandwidth reading', () => {
    const { told } = run({
      to: 50,
      sampleAt: (s) => ({
        remainingBytes: falling(vm, 100)(s),
        bandwidthBytesPerS: 0,
        expectedDowntimeMs: 800,
        iteration: 3,
      }),
    });
    expect(told.find((t) => t.action.kind === 'tune' && t.action.autoConverge)?.action.why).toContain(
      '800 ms',
    );
  });

  it('gets one stall period to work before anyone is asked', () => {
    // 100 MiB left at 1 GiB/s fits the SLO: only the stall (from 1 s on) calls for auto-converge.
    const { told } = run({ to: 400, sampleAt: () => ({ remainingBytes: 100 * MiB }) });
    expect(story(told)).toEqual(['151:auto-converge', '301:escalate']);
    expect(told.find((t) => t.s === 151)!.action).toMatchObject({
      autoConverge: true,
      why: expect.stringContaining('stalled'),
    });
  });
});

describe('stall detection', () => {
  it('calls a migration stalled only after stallTimeoutS without a new low', () => {
    const { told } = run({ policy: noAutoConverge, to: 200, sampleAt: flat });
    expect(only(told, 'escalate').map((t) => t.s)).toEqual([150]);
    expect(told.find((t) => t.s === 149 && t.action.kind !== 'tune')).toBeUndefined();
  });

  it('counts the stall from the last new low, by at least 1 %', () => {
    // Progress to 3 GiB by 50 s, then passes that bounce just above it (a 0.5 % wiggle is no low).
    const remaining = (s: number) =>
      s <= 50 ? falling(vm, 200)(s) : Math.round(falling(vm, 200)(50) * 0.995);
    const { told } = run({
      policy: noAutoConverge,
      to: 250,
      sampleAt: (s) => ({ remainingBytes: remaining(s) }),
    });
    expect(only(told, 'escalate').map((t) => t.s)).toEqual([200]);
  });

  it('never fires while remaining keeps falling', () => {
    const { told } = run({
      policy: noAutoConverge,
      to: 500,
      sampleAt: (s) => ({ remainingBytes: falling(vm, 550)(s) }),
    });
    expect(told.filter((t) => t.action.kind !== 'tune')).toEqual([]);
  });

  it("judges QEMU's saw-tooth remaining by where each pass starts", () => {
    // After the first 20 s pass, each 20 s pass starts 10 % lower than the last and its remaining
    // falls to almost nothing before the next dirty sync brings it back: converging, not stalled.
    const passStart = (pass: number) => vm.memoryBytes * 0.5 * 0.9 ** pass;
    const shrinking = (s: number) => {
      const pass = Math.floor(s / 20);
      const into = (s % 20) / 20;
      return { iteration: pass + 1, remainingBytes: Math.round(passStart(pass) * (1 - 0.999 * into)) };
    };
    expect(only(run({ policy: noAutoConverge, to: 400, sampleAt: shrinking }).told, 'escalate')).toEqual([]);

    // The same saw-tooth with passes that never shrink is a stall, found from the pass starts.
    const flatPasses = (s: number) => ({
      iteration: Math.floor(s / 20) + 1,
      remainingBytes: Math.round(passStart(1) * (1 - 0.999 * ((s % 20) / 20))),
    });
    const stalled = only(run({ policy: noAutoConverge, to: 400, sampleAt: flatPasses }).told, 'escalate');
    expect(stalled.map((t) => t.s)).toEqual([20 + 150]);
  });

  it('counts a tightening auto-converge throttle as progress, until it stops tightening', () => {
    // Every 20 s pass starts with the whole memory again (the guest outruns the link) while the
    // throttle climbs 20 % -> 90 % over the first eight passes, then stays.
    const sampleAt = (s: number) => {
      const pass = Math.floor(s / 20);
      return {
        iteration: pass + 1,
        remainingBytes: vm.memoryBytes,
        throttlePct: Math.min(90, 20 + 10 * pass),
      };
    };
    const escalations = only(run({ policy: noAutoConverge, to: 400, sampleAt }).told, 'escalate');
    // The throttle last rose at 140 s: the stall clock starts there.
    expect(escalations.map((t) => t.s)).toEqual([140 + 150]);
  });

  it('does not run the stall clock during setup', () => {
    const { told } = run({
      policy: noAutoConverge,
      to: 300,
      sampleAt: (s) => (s <= 120 ? { status: 'setup', remainingBytes: 0, bandwidthBytesPerS: 0 } : flat()),
    });
    // Pages start moving after 120 s; nothing new for 150 s from then.
    expect(only(told, 'escalate').map((t) => t.s)).toEqual([270]);
  });
});

describe('completion timeout', () => {
  const small: WatchedMigration = { ...vm, memoryBytes: 2 * GiB };
  const progressing = (s: number) => ({ remainingBytes: falling(small, 400)(s) });

  it('allows completionTimeoutSPerGiB per GiB of memory, then escalates', () => {
    expect(completionTimeoutMs(defaultPolicy, 2 * GiB)).toBe(300_000);
    const { told } = run({ policy: noAutoConverge, migration: small, to: 350, sampleAt: progressing });
    expect(only(told, 'escalate')).toEqual([
      expect.objectContaining({
        s: 300,
        action: expect.objectContaining({ why: expect.stringContaining('completion timeout') }),
      }),
    ]);
  });

  it('tries auto-converge first and gives it a stall period', () => {
    const { told } = run({
      migration: small,
      to: 500,
      sampleAt: (s) => ({ ...progressing(s), bandwidthBytesPerS: 4 * GiB }),
    });
    expect(story(told)).toEqual(['300:auto-converge', '450:escalate']);
  });

  it('gives a tiny guest at least one GiB worth of time', () => {
    expect(completionTimeoutMs(defaultPolicy, 256 * MiB)).toBe(150_000);
    expect(completionTimeoutMs(defaultPolicy, 0)).toBe(150_000);
  });

  it('aborts a migration that never leaves setup', () => {
    const { told } = run({
      migration: small,
      to: 310,
      sampleAt: () => ({ status: 'setup', bandwidthBytesPerS: 0 }),
    });
    expect(told.map((t) => [t.s, t.action])).toEqual(
      [300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310].map((s) => [
        s,
        { kind: 'abort', why: `still setting up after ${s} s (completion timeout 300 s)` },
      ]),
    );
  });
});

describe('escalation', () => {
  it('asks for post-copy first, with a deterministic id, expiry and a few ms of downtime', () => {
    const { told, watch } = run({ policy: noAutoConverge, to: 150, sampleAt: flat });
    expect(only(told, 'escalate')[0]!.action).toEqual({
      kind: 'escalate',
      switchover: 'postcopy',
      approvalId: 'evac-1:vm-a:approval-1',
      expiresAt: at(150 + 900),
      predictedDowntimeMs: POSTCOPY_DOWNTIME_MS,
      why: `stalled: remaining 4.0 GiB has not fallen for 150 s; ask to switch to post-copy (downtime ~${POSTCOPY_DOWNTIME_MS} ms)`,
    });
    expect(watch).toMatchObject({
      approvalsAsked: 1,
      escalation: {
        approvalId: 'evac-1:vm-a:approval-1',
        kind: 'postcopy',
        requestedAt: at(150),
        expiresAt: at(1050),
      },
    });
  });

  it('asks to pause when post-copy is not allowed, predicting remaining / bandwidth', () => {
    const policy = policyWith({ allowAutoConverge: false, allowPostCopy: false });
    const { told } = run({
      policy,
      to: 151, // the first sample at 1 s is the low
      sampleAt: () => ({ remainingBytes: GiB, bandwidthBytesPerS: 512 * MiB }),
    });
    expect(only(told, 'escalate')[0]!.action).toMatchObject({
      switchover: 'pause',
      predictedDowntimeMs: 2000,
    });
  });

  it('aborts instead of asking to pause when no bandwidth can bound the pause', () => {
    const policy = policyWith({ allowAutoConverge: false, allowPostCopy: false });
    const { told } = run({ policy, to: 150, sampleAt: () => ({ bandwidthBytesPerS: 0, dirtyBytesPerS: 0 }) });
    expect(told.map((t) => t.action.kind).filter((k) => k !== 'tune')).toEqual(['abort']);
    expect(told.at(-1)!.action.why).toContain('no bandwidth measured');
  });

  it("aborts on completion timeout when neither is allowed (Nova's baseline)", () => {
    const nova = policyWith({
      allowAutoConverge: false,
      allowPostCopy: false,
      allowPause: false,
      completionTimeoutSPerGiB: 800,
      stallTimeoutS: 1e6, // Nova removed its progress timeout
    });
    const one: WatchedMigration = { ...vm, memoryBytes: GiB };
    const { told } = run({
      policy: nova,
      migration: one,
      to: 800,
      sampleAt: (s) => ({ remainingBytes: falling(one, 900)(s) }),
    });
    const aborts = told.filter((t) => t.action.kind === 'abort');
    expect(aborts.map((t) => t.s)).toEqual([800]);
    expect(aborts[0]!.action.why).toBe(
      'completion timeout: running 800 s, limit 800 s for 1.0 GiB; neither post-copy nor pause is allowed: abort',
    );
  });

  it("aborts on a progress stall when neither is allowed (KubeVirt's baseline)", () => {
    const kubevirt = policyWith({
      allowAutoConverge: false,
      allowPostCopy: false,
      allowPause: false,
      downtimeRampStartMs: 300,
      downtimeRampSteps: 1,
      downtimeSloMs: 300,
    });
    const { told } = run({
      policy: kubevirt,
      migration: { ...vm, downtimeSloMs: 300 },
      to: 150,
      sampleAt: flat,
    });
    expect(told.map((t) => `${t.s}:${t.action.kind}`)).toEqual(['150:abort']);
    expect(told[0]!.action.why).toMatch(/^stalled: .*neither post-copy nor pause is allowed: abort$/);
  });
});

describe('approvals', () => {
  const escalated = () => run({ policy: noAutoConverge, to: 150, sampleAt: flat }).watch;
  const decided = (outcome: ApprovalDecision['outcome'], s: number): ApprovalDecision => ({
    approvalId: 'evac-1:vm-a:approval-1',
    outcome,
    decidedBy: outcome === 'expired' ? 'system' : 'U-APPROVER',
    decidedAt: at(s),
  });

  it('keeps the migration running while waiting: only the ramp moves, nothing is asked twice', () => {
    const watch = { ...escalated(), rampStep: 3, lastRampAt: at(150), downtimeLimitMs: 200 };
    const { told } = run({ policy: noAutoConverge, watch, from: 151, to: 600, sampleAt: flat });
    expect(new Set(told.map((t) => t.action.kind))).toEqual(new Set(['tune']));
    expect(told[0]).toMatchObject({ s: 155, action: { downtimeLimitMs: 250 } });
  });

  it('aborts when the approval expires unanswered: the safe action', () => {
    const { told } = run({
      policy: noAutoConverge,
      watch: escalated(),
      from: 1040,
      to: 1051,
      sampleAt: flat,
    });
    expect(told.filter((t) => t.action.kind !== 'tune').map((t) => [t.s, t.action])).toEqual(
      [1050, 1051].map((s) => [s, { kind: 'abort', why: 'approval expired: the safe action' }]),
    );
  });

  it('switches over once when approved, and then does nothing more', () => {
    const { told, watch } = run({
      policy: noAutoConverge,
      watch: escalated(),
      from: 160,
      to: 2000,
      sampleAt: flat,
      decisionAt: (s) => (s >= 160 ? decided('approved', 160) : undefined),
    });
    expect(told.map((t) => [t.s, t.action])).toEqual([
      [160, { kind: 'switchover', switchover: 'postcopy', why: 'postcopy approved by U-APPROVER' }],
    ]);
    expect(watch.switchedOver).toBe('postcopy');
  });

  it('switches over to a pause when that is what was asked', () => {
    const policy = policyWith({ allowAutoConverge: false, allowPostCopy: false });
    const { watch } = run({ policy, to: 150, sampleAt: flat });
    const step = decide({
      policy,
      migration: vm,
      watch,
      sample: sample(170),
      now: at(170),
      decision: decided('approved', 170),
    });
    expect(step.actions).toEqual([
      { kind: 'switchover', switchover: 'pause', why: 'pause approved by U-APPROVER' },
    ]);
  });

  it('aborts when rejected', () => {
    const step = decide({
      policy: noAutoConverge,
      migration: vm,
      watch: escalated(),
      sample: sample(170),
      now: at(170),
      decision: decided('rejected', 170),
    });
    expect(step.actions).toEqual([
      { kind: 'abort', why: 'postcopy rejected by U-APPROVER: abort, the VM stays on the source' },
    ]);
    expect(step.watch.switchedOver).toBeUndefined();
  });

  it('aborts on an expired decision', () => {
    const step = decide({
      policy: noAutoConverge,
      migration: vm,
      watch: escalated(),
      sample: sample(1050),
      now: at(1050),
      decision: decided('expired', 1050),
    });
    expect(step.actions).toEqual([{ kind: 'abort', why: 'approval expired: the safe action' }]);
  });

  it('ignores a decision about some other approval', () => {
    const other = { ...decided('approved', 170), approvalId: 'evac-1:vm-b:approval-1' };
    const step = decide({
      policy: noAutoConverge,
      migration: vm,
      watch: escalated(),
      sample: sample(170),
      now: at(170),
      decision: other,
    });
    expect(step.actions.filter((a) => a.kind !== 'tune')).toEqual([]);
    const idle = decide({
      policy: noAutoConverge,
      migration: vm,
      watch: initialWatch(noAutoConverge, vm, T0),
      sample: sample(2),
      now: at(2),
      decision: other,
    });
    expect(idle.actions).toEqual([]);
  });

  it('does nothing more when the migration completes while an approval is pending', () => {
    const watch = escalated();
    const step = decide({
      policy: noAutoConverge,
      migration: vm,
      watch,
      sample: sample(2000, { status: 'completed', remainingBytes: 0 }),
      now: at(2000),
    });
    expect(step).toEqual({ watch, actions: [] });
  });

  it('gives the same approval id after a restart that replays from the stored state', () => {
    const first = run({ policy: noAutoConverge, to: 150, sampleAt: flat });
    const again = run({ policy: noAutoConverge, to: 150, sampleAt: flat, persist: true });
    expect(again.told).toEqual(first.told);
    // A process that died after storing the state at 149 s asks for the very same approval.
    const stored = JSON.parse(
      JSON.stringify(run({ policy: noAutoConverge, to: 149, sampleAt: flat }).watch),
    ) as WatchState;
    const replay = decide({
      policy: noAutoConverge,
      migration: vm,
      watch: stored,
      sample: sample(150),
      now: at(150),
    });
    expect(replay.actions).toEqual([only(first.told, 'escalate')[0]!.action]);
    // Resuming from the state stored after the escalation never asks again.
    const resumed = run({
      policy: noAutoConverge,
      watch: first.watch,
      from: 151,
      to: 900,
      sampleAt: flat,
      persist: true,
    });
    expect(only(resumed.told, 'escalate')).toEqual([]);
  });
});

describe('odd samples', () => {
  it('takes no action on final samples, whatever the state', () => {
    const stalledAndExpired = {
      ...initialWatch(defaultPolicy, vm, T0),
      escalation: { approvalId: 'x', kind: 'postcopy' as const, requestedAt: T0, expiresAt: T0 },
    };
    for (const status of ['completed', 'failed', 'cancelled'] as const) {
      const step = decide({
        policy: defaultPolicy,
        migration: vm,
        watch: stalledAndExpired,
        sample: sample(5000, { status }),
        now: at(5000),
      });
      expect(step).toEqual({ watch: stalledAndExpired, actions: [] });
    }
  });

  it('takes no action while the switchover itself is under way', () => {
    for (const status of ['device', 'postcopy-active'] as const) {
      const step = decide({
        policy: defaultPolicy,
        migration: vm,
        watch: initialWatch(defaultPolicy, vm, T0),
        sample: sample(5000, { status }),
        now: at(5000),
      });
      expect(step.actions).toEqual([]);
    }
  });

  it('never divides by zero: zero bandwidth, unmeasured dirty rate, zero remaining', () => {
    const { told, watch } = run({
      to: 1200,
      sampleAt: (s) => ({
        status: s < 10 ? 'setup' : 'active',
        bandwidthBytesPerS: 0,
        dirtyBytesPerS: 0,
        remainingBytes: s % 7 === 0 ? 0 : vm.memoryBytes,
        expectedDowntimeMs: undefined,
      }),
    });
    const numbers = [
      ...Object.values(watch).filter((v) => typeof v === 'number'),
      ...told.flatMap((t) => Object.values(t.action).filter((v) => typeof v === 'number')),
    ];
    expect(numbers.length).toBeGreaterThan(0);
    for (const n of numbers) expect(Number.isFinite(n)).toBe(true);
    for (const t of told) expect(t.action.why).not.toMatch(/NaN|Infinity/);
    // Zero readings are not lows: it still stalls, and escalates to post-copy (which needs no rate).
    expect(only(told, 'escalate').map((t) => t.action.kind)).toEqual(['escalate']);
  });

  it('ignores NaN readings from a confused driver', () => {
    const step = decide({
      policy: defaultPolicy,
      migration: vm,
      watch: initialWatch(defaultPolicy, vm, T0),
      sample: sample(1, {
        remainingBytes: Number.NaN,
        bandwidthBytesPerS: Number.NaN,
        dirtyBytesPerS: Number.NaN,
      }),
      now: at(1),
    });
    expect(step.actions).toEqual([]);
    expect(step.watch.bestRemainingBytes).toBe(vm.memoryBytes);
  });
});

describe('what a driver lacks', () => {
  it('is neither planned for nor claimed: no auto-converge on a back end without the switch', () => {
    expect(policyForDriver(defaultPolicy, { lacks: { autoConverge: true } }).allowAutoConverge).toBe(false);
    expect(policyForDriver(defaultPolicy, {})).toBe(defaultPolicy);
  });
});
