import { describe, expect, it } from 'vitest';
import { ConflictError, InputError, NotFoundError } from '../../../src/engine/errors.js';
import { GBPS, GiB, MiB } from '../../../src/engine/model.js';
import { type EvacuationPlan, planEvacuation, planMigration } from '../../../src/engine/planning/index.js';
import { fleet, host, policy, vm } from './fleet.js';

const at = (hhmm: string) => Date.parse(`2026-11-24T${hhmm}:00Z`);
const destinations = ['d1', 'd2', 'd3', 'd4'].map((n) => host(n));
const lightVms = (n: number) =>
  Array.from({ length: n }, (_, i) => vm(`vm-${String(i).padStart(2, '0')}`, 'src', 16));
const heavyVms = (n: number) =>
  Array.from({ length: n }, (_, i) => vm(`db-${i}`, 'src', 16, { dirtyBytesPerS: 700 * MiB }));

/** Most moves running at once from the source, according to the plan's timeline. */
function peakConcurrency(plan: EvacuationPlan): number {
  const edges = plan.timeline.flatMap((t) => [
    { at: t.startMs, d: 1 },
    { at: t.endMs, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.d;
    peak = Math.max(peak, now);
  }
  return peak;
}

describe('planning an evacuation', () => {
  it('gives every VM a destination and a prediction at the bandwidth it will get', () => {
    const f = fleet([host('src'), ...destinations], lightVms(8));
    const plan = planEvacuation(f, 'src', policy(), { now: at('02:00') });
    expect(plan.moves).toHaveLength(8);
    expect(plan.blockers).toEqual([]);
    for (const m of plan.moves) {
      expect(m.prediction.converges).toBe(true);
      expect(m.prediction.strategy).toBe('precopy');
      // Four at once share the 25 Gb/s source NIC.
      expect(m.prediction.bandwidthBytesPerS / GBPS).toBeCloseTo(6.25);
    }
    // 128 GiB over a 25 Gb/s NIC.
    expect(plan.lowerBoundMs).toBeCloseTo(((128 * GiB) / (25 * GBPS)) * 1000);
    expect(plan.predictedMakespanMs).toBeGreaterThanOrEqual(plan.lowerBoundMs);
    expect(plan.predictedMakespanMs).toBeLessThan(plan.lowerBoundMs * 1.2);
    expect(peakConcurrency(plan)).toBe(4);
  });

  it('says what stays behind, and why, before anything starts', () => {
    const f = fleet(
      [host('src'), host('d1', { memoryBytes: 40 * GiB })],
      [
        vm('gpu', 'src', 8, { migratable: false, notMigratableReason: 'has a passthrough GPU' }),
        vm('huge', 'src', 64),
        vm('web', 'src', 16),
      ],
    );
    const plan = planEvacuation(f, 'src', policy(), { now: 0 });
    expect(plan.moves.map((m) => m.instance)).toEqual(['web']);
    expect(plan.blockers.map((b) => [b.instance, b.code])).toEqual([
      ['huge', 'no-capacity'],
      ['gpu', 'not-migratable'],
    ]);
  });

  it('starts heavy writers only when the link can carry them, so they converge by plain pre-copy', () => {
    const f = fleet([host('src'), ...destinations], heavyVms(4));
    const ferry = planEvacuation(f, 'src', policy(), { now: 0 });
    expect(ferry.moves.map((m) => m.prediction.strategy)).toEqual([
      'precopy',
      'precopy',
      'precopy',
      'precopy',
    ]);
    expect(peakConcurrency(ferry)).toBe(3);
    // The anchors' fixed admission starts all four: 6.25 Gb/s each is too little for pre-copy.
    const fixed = planEvacuation(f, 'src', policy({ admission: 'fixed' }), { now: 0 });
    expect(peakConcurrency(fixed)).toBe(4);
    expect(fixed.moves.every((m) => m.prediction.strategy !== 'precopy')).toBe(true);
  });

  it('leaves out the moves that would finish after the window closes, saying when they would', () => {
    const f = fleet([host('src'), ...destinations], lightVms(24));
    const window = { start: at('02:00'), end: at('02:02'), name: 'night' };
    const plan = planEvacuation(f, 'src', policy(), { now: at('01:30'), window });
    expect(plan.moves.length).toBeGreaterThan(0);
    expect(plan.deferred.length).toBeGreaterThan(0);
    expect(plan.moves.length + plan.deferred.length).toBe(24);
    for (const t of plan.timeline) expect(window.start + t.endMs).toBeLessThanOrEqual(window.end);
    expect(plan.predictedMakespanMs).toBeLessThanOrEqual(window.end - window.start);
    for (const m of plan.deferred) expect(m.outsideWindow).toBe(true);
    const late = plan.blockers.filter((b) => b.code === 'outside-window');
    expect(late.map((b) => b.instance).sort()).toEqual(plan.deferred.map((m) => m.instance).sort());
    expect(late[0]!.reason).toMatch(
      /^predicted to finish at 02:0\d(:\d\d)?, after the window night closes at 02:02(:00)?$/,
    );
  });

  it('says in an operator’s words when a move would overrun the window', () => {
    const big = { memoryBytes: 8192 * GiB, vcpus: 256 };
    const f = fleet([host('src', big), host('d1', big)], [vm('archive', 'src', 4000)]);
    const window = { start: at('04:00'), end: at('05:00') };
    const plan = planEvacuation(f, 'src', policy(), { now: at('03:00'), window });
    // 4000 GiB at the 8 Gb/s stream cap: about 73 minutes.
    expect(plan.blockers).toEqual([
      {
        instance: 'archive',
        code: 'outside-window',
        reason: 'predicted to finish at 05:12, after the window closes at 05:00',
      },
    ]);
  });

  it('fits everything in a window that is long enough, starting when it opens', () => {
    const f = fleet([host('src'), ...destinations], lightVms(8));
    const window = { start: at('02:00'), end: at('05:00') };
    const plan = planEvacuation(f, 'src', policy(), { now: at('01:00'), window });
    expect(plan.blockers).toEqual([]);
    expect(plan.deferred).toEqual([]);
    expect(plan.window).toEqual(window);
  });

  it('writes the times in the operator’s zone', () => {
    const f = fleet([host('src'), ...destinations], lightVms(24));
    const window = { start: at('01:00'), end: at('01:02') };
    const plan = planEvacuation(f, 'src', policy(), { now: at('01:00'), window, timeZone: 'Europe/Paris' });
    expect(plan.blockers.find((b) => b.code === 'outside-window')!.reason).toMatch(/closes at 02:02(:00)?$/);
  });

  it('defers every move when the window has already closed', () => {
    const f = fleet([host('src'), ...destinations], lightVms(3));
    const window = { start: at('02:00'), end: at('03:00') };
    const plan = planEvacuation(f, 'src', policy(), { now: at('04:00'), window });
    expect(plan.moves).toEqual([]);
    expect(plan.blockers.map((b) => b.code)).toEqual(['outside-window', 'outside-window', 'outside-window']);
  });

  it('plans nothing for an empty host', () => {
    const plan = planEvacuation(fleet([host('src'), host('d1')], []), 'src', policy(), { now: 0 });
    expect(plan).toMatchObject({ moves: [], blockers: [], lowerBoundMs: 0, predictedMakespanMs: 0 });
  });

  it('refuses an unknown host and a window that ends before it starts', () => {
    const f = fleet([host('src')], []);
    expect(() => planEvacuation(f, 'nope', policy(), { now: 0 })).toThrow(NotFoundError);
    expect(() => planEvacuation(f, 'src', policy(), { now: 0, window: { start: 10, end: 5 } })).toThrow(
      InputError,
    );
  });
});

describe('planning a single-VM migration', () => {
  const f = fleet(
    [
      host('src', { cpuModel: 'Cascadelake', az: 'az1' }),
      host('ok', { cpuModel: 'Cascadelake', az: 'az1' }),
      host('other', { cpuModel: 'Cascadelake', az: 'az1', memoryBytes: 512 * GiB }),
      host('ice', { cpuModel: 'Icelake', az: 'az1' }),
      host('far', { cpuModel: 'Cascadelake', az: 'az2' }),
      host('off', {
        cpuModel: 'Cascadelake',
        az: 'az1',
        schedulable: false,
        disabledReason: 'firmware update',
      }),
      host('full', { cpuModel: 'Cascadelake', az: 'az1', memoryBytes: 64 * GiB }),
    ],
    [
      vm('web', 'src', 32, { antiAffinityGroup: 'web' }),
      vm('web-2', 'other', 16, { antiAffinityGroup: 'web' }),
      vm('filler', 'full', 48),
      vm('pinned', 'src', 8, { migratable: false, notMigratableReason: 'uses local NVMe' }),
    ],
  );

  it('moves the VM to the chosen host with a prediction', () => {
    const plan = planMigration(f, 'web', policy(), { to: 'ok' });
    expect(plan.source).toBe('src');
    expect(plan.moves).toHaveLength(1);
    expect(plan.moves[0]).toMatchObject({ instance: 'web', from: 'src', to: 'ok', memoryBytes: 32 * GiB });
    expect(plan.predictedMakespanMs).toBe(plan.moves[0]!.prediction.durationMs);
  });

  it('chooses a compatible host when none is given', () => {
    expect(planMigration(f, 'web', policy()).moves[0]!.to).toBe('ok');
  });

  it('explains a destination that cannot take the VM', () => {
    const cases: [string, new (m: string) => Error, RegExp][] = [
      ['nope', NotFoundError, /no host named nope/],
      ['src', InputError, /web already runs on src/],
      ['ice', InputError, /ice has cpuModel Icelake, but web needs Cascadelake/],
      ['far', InputError, /far is in az2, but web must stay in az1/],
      ['off', ConflictError, /off is disabled for scheduling \(firmware update\)/],
      ['full', ConflictError, /full has 16 GiB and 60 vCPUs free; web needs 32 GiB and 4 vCPUs/],
      ['other', ConflictError, /other already runs web-2 of anti-affinity group web/],
    ];
    for (const [to, type, message] of cases) {
      const attempt = () => planMigration(f, 'web', policy(), { to });
      expect(attempt).toThrow(type);
      expect(attempt).toThrow(message);
    }
  });

  it('reports a VM that cannot be live-migrated as a blocker', () => {
    const plan = planMigration(f, 'pinned', policy(), { to: 'ok' });
    expect(plan.moves).toEqual([]);
    expect(plan.blockers).toEqual([
      { instance: 'pinned', code: 'not-migratable', reason: 'uses local NVMe' },
    ]);
  });

  it('refuses an unknown VM', () => {
    expect(() => planMigration(f, 'ghost', policy())).toThrow(/no instance named ghost/);
  });
});
