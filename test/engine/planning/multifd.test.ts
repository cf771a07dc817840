import { describe, expect, it } from 'vitest';
import { fairShares } from '../../../src/engine/bandwidth.js';
import { NOVA_LACKS } from '../../../src/engine/drivers/nova/driver.js';
import { initialTuning, policyForDriver } from '../../../src/engine/evacuation/policy.js';
import { GBPS, GiB, MiB } from '../../../src/engine/model.js';
import { planEvacuation, planMigration } from '../../../src/engine/planning/index.js';
import { aloneRate, bandwidthNeed } from '../../../src/engine/planning/schedule.js';
import { fleet, host, move, policy, vm } from './fleet.js';

const multifd = (over = {}) => policy({ multifdChannels: 4, ...over });

describe('multifd in the bandwidth model', () => {
  it('shares a link per TCP connection: a 3-channel migration weighs three single streams', () => {
    const rates = fairShares(
      [
        { id: 'mfd', from: 'a', to: 'b', capBytesPerS: 24 * GBPS, weight: 3 },
        { id: 'one', from: 'a', to: 'c', capBytesPerS: 8 * GBPS },
      ],
      new Map([['a', 20 * GBPS]]),
    );
    expect(rates.get('mfd')! / GBPS).toBeCloseTo(15);
    expect(rates.get('one')! / GBPS).toBeCloseTo(5);
  });

  it('gives a migration N × the channel cap, or what its link carries, whichever is less', () => {
    const hosts = new Map([
      ['a', host('a')],
      ['b', host('b')],
    ]);
    const m = move('vm', 'a', 'b', 10);
    const p = policy({ multifdChannelCapGbps: 5 });
    expect(aloneRate(m, hosts, p) / GBPS).toBeCloseTo(8);
    expect(aloneRate({ ...m, channels: 3 }, hosts, p) / GBPS).toBeCloseTo(15);
    expect(aloneRate({ ...m, channels: 8 }, hosts, p) / GBPS).toBeCloseTo(25);
  });

  it('admits a multifd move only while it keeps multifdSharePct of what its channels carry alone', () => {
    const hosts = new Map([
      ['a', host('a')],
      ['b', host('b')],
    ]);
    const quiet = move('vm', 'a', 'b', 10, { channels: 4 });
    expect(bandwidthNeed(quiet, hosts, policy({ multifdSharePct: 60 })) / GBPS).toBeCloseTo(15);
    expect(bandwidthNeed({ ...quiet, channels: undefined }, hosts, policy()) / MiB).toBeCloseTo(12.5);
  });
});

describe('the planner choosing channels per move', () => {
  const dests = ['d1', 'd2'].map((n) => host(n));

  it('plans as before when multifd is off (the default): no channels, no reasons', () => {
    const f = fleet([host('src'), ...dests], [vm('big', 'src', 64), vm('small', 'src', 4)]);
    const plan = planEvacuation(f, 'src', policy(), { now: 0 });
    for (const m of plan.moves) {
      expect(m.channels).toBeUndefined();
      expect(m.channelsWhy).toBeUndefined();
    }
  });

  it('gives a large VM enough channels to fill a 25 Gb/s link, and a small quiet one a single stream', () => {
    const f = fleet([host('src'), ...dests], [vm('big', 'src', 64), vm('small', 'src', 4)]);
    const plan = planEvacuation(f, 'src', multifd(), { now: 0 });
    const big = plan.moves.find((m) => m.instance === 'big')!;
    const small = plan.moves.find((m) => m.instance === 'small')!;
    expect(big.channels).toBe(4);
    expect(big.channelsWhy).toMatch(/^4 channels/);
    expect(small.channels).toBeUndefined();
    expect(small.channelsWhy).toMatch(/one stream: under 16 GiB/);
  });

  it('gives a fast-dirtying small VM channels: one stream would resend most of its memory', () => {
    const f = fleet([host('src'), ...dests], [vm('db', 'src', 8, { dirtyBytesPerS: 600 * MiB })]);
    const single = planMigration(f, 'db', policy()).moves[0]!;
    expect(single.prediction.strategy).toBe('precopy');
    expect(single.prediction.bytesSent).toBeGreaterThan(2 * 8 * GiB);
    const multi = planMigration(f, 'db', multifd()).moves[0]!;
    expect(multi).toMatchObject({ channels: 4, prediction: { strategy: 'precopy' } });
    expect(multi.prediction.bytesSent).toBeLessThan(1.3 * 8 * GiB);
  });

  it('keeps one stream, and says why, for a move predicted to need post-copy', () => {
    // On one stream and on four: post-copy sends each page once, and QEMU refuses it with multifd.
    for (const dirtyMiBps of [1200, 4000]) {
      const f = fleet([host('src'), ...dests], [vm('db', 'src', 32, { dirtyBytesPerS: dirtyMiBps * MiB })]);
      const plan = planMigration(f, 'db', multifd());
      expect(plan.moves[0]!.channels).toBeUndefined();
      expect(plan.moves[0]!.prediction.strategy).toBe('postcopy');
      expect(plan.moves[0]!.channelsWhy).toBe(
        'one stream: predicted to need post-copy, and QEMU refuses multifd with post-copy',
      );
    }
    // With post-copy not allowed, channels are the better way to a pause: shorter.
    const f = fleet([host('src'), ...dests], [vm('db', 'src', 32, { dirtyBytesPerS: 4000 * MiB })]);
    const noPostcopy = planMigration(f, 'db', multifd({ allowPostCopy: false }));
    expect(noPostcopy.moves[0]).toMatchObject({ channels: 4, prediction: { strategy: 'pause' } });
  });

  it('keeps one stream where the link has no room beyond it, or the hosts no spare cores', () => {
    const slow = fleet([host('src', { nicBytesPerS: 8 * GBPS }), ...dests], [vm('big', 'src', 64)]);
    expect(planMigration(slow, 'big', multifd()).moves[0]!.channelsWhy).toMatch(/no room beyond one stream/);
    // 64 vCPUs, 60 given to guests: 4 spare cores among up to 4 migrations, 2 cores a channel.
    const busy = fleet([host('src'), host('d1')], [vm('big', 'src', 64, { vcpus: 60 })]);
    expect(
      planMigration(busy, 'big', multifd({ multifdChannelCpuCores: 2 })).moves[0]!.channels,
    ).toBeUndefined();
    expect(planMigration(busy, 'big', multifd({ multifdChannelCpuCores: 0.5 })).moves[0]!.channels).toBe(2);
  });

  it('never plans post-copy for a move it gave channels, whatever share the schedule leaves it', () => {
    const vms = [
      ...Array.from({ length: 6 }, (_, i) => vm(`big-${i}`, 'src', 48, { dirtyBytesPerS: 300 * MiB })),
      vm('db', 'src', 8, { dirtyBytesPerS: 900 * MiB }),
    ];
    const plan = planEvacuation(fleet([host('src', { vcpus: 192 }), ...dests], vms), 'src', multifd(), {
      now: 0,
    });
    const given = plan.moves.filter((m) => (m.channels ?? 1) > 1);
    expect(given.length).toBeGreaterThan(0);
    for (const m of given) expect(m.prediction.strategy).not.toBe('postcopy');
  });
});

describe('multifd at run time', () => {
  it('starts a multifd move with its channels and without the post-copy capability', () => {
    const m = { id: 'e:vm', instance: 'vm', memoryBytes: 16 * GiB, downtimeSloMs: 500 };
    expect(initialTuning(policy(), { ...m, channels: 4 })).toMatchObject({
      multifdChannels: 4,
      postcopyCapable: false,
    });
    expect(initialTuning(policy(), m)).toMatchObject({ postcopyCapable: true });
    expect(initialTuning(policy(), m).multifdChannels).toBeUndefined();
  });

  it('plans one stream on a back end without multifd (Nova)', () => {
    expect(policyForDriver(multifd(), { lacks: NOVA_LACKS }).multifdChannels).toBe(1);
    expect(policyForDriver(multifd(), { lacks: {} }).multifdChannels).toBe(4);
  });
});
