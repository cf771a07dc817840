import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../../src/engine/clock.js';
import { SimDriver } from '../../../../src/engine/drivers/sim/index.js';
import { GBPS, GiB } from '../../../../src/engine/model.js';
import { follow, host, instance, last, move, tuning } from './support.js';

/** Three 25 Gb/s hosts, 8 Gb/s streams and channels, a channel costing `cores` on each side. */
function simulate(vms: ReturnType<typeof instance>[], cores = 0, vcpus = 64) {
  const clock = new VirtualClock();
  const hosts = ['hv1', 'hv2', 'hv3'].map((n) => host(n, { nicBytesPerS: 25 * GBPS, vcpus }));
  const driver = new SimDriver({
    fleet: { hosts, instances: vms },
    clock,
    streamCapBytesPerS: 8 * GBPS,
    multifd: { channelCapBytesPerS: 8 * GBPS, coresPerChannel: cores },
    seed: 0,
  });
  return { driver, clock };
}

const rateOf = async (
  driver: SimDriver,
  clock: VirtualClock,
  handle: Awaited<ReturnType<SimDriver['start']>>,
) => {
  await clock.sleep(1000);
  return (await driver.sample(handle)).bandwidthBytesPerS / GBPS;
};

describe('the simulator with multifd', () => {
  it('gives a migration the cap of its N channels, up to its link, and completes it', async () => {
    const { driver, clock } = simulate([instance('a', 'hv1', { memoryBytes: 64 * GiB, dirtyBytesPerS: 0 })]);
    const one = await driver.start(move('a', 'hv1', 'hv2'), { ...tuning, multifdChannels: 2 });
    expect(await rateOf(driver, clock, one)).toBeCloseTo(16);
    const { driver: d4, clock: c4 } = simulate([
      instance('a', 'hv1', { memoryBytes: 64 * GiB, dirtyBytesPerS: 0 }),
    ]);
    const four = await d4.start(move('a', 'hv1', 'hv2'), {
      ...tuning,
      postcopyCapable: false,
      multifdChannels: 4,
    });
    expect(await rateOf(d4, c4, four)).toBeCloseTo(25);
    expect(last(await follow(d4, c4, four)).status).toBe('completed');
  });

  it('shares a link per connection: 3 channels against one stream get 3/4 of it', async () => {
    const { driver, clock } = simulate([
      instance('a', 'hv1', { memoryBytes: 64 * GiB, dirtyBytesPerS: 0 }),
      instance('b', 'hv1', { memoryBytes: 64 * GiB, dirtyBytesPerS: 0 }),
    ]);
    const a = await driver.start(move('a', 'hv1', 'hv2'), { ...tuning, multifdChannels: 3 });
    const b = await driver.start(move('b', 'hv1', 'hv3'), tuning);
    await clock.sleep(1000);
    expect((await driver.sample(a)).bandwidthBytesPerS / GBPS).toBeCloseTo(18.75);
    expect((await driver.sample(b)).bandwidthBytesPerS / GBPS).toBeCloseTo(6.25);
  });

  it('runs fewer channels where the hosts lack spare cores for them', async () => {
    // 64 vCPUs, the guest 2: 62 spare; at 40 cores a channel only one of 4 channels runs.
    const vms = [instance('a', 'hv1', { memoryBytes: 64 * GiB, dirtyBytesPerS: 0 })];
    const { driver, clock } = simulate(vms, 40);
    const h = await driver.start(move('a', 'hv1', 'hv2'), { ...tuning, multifdChannels: 4 });
    expect(await rateOf(driver, clock, h)).toBeCloseTo(8);
    const { driver: d2, clock: c2 } = simulate(vms, 20);
    const h2 = await d2.start(move('a', 'hv1', 'hv2'), { ...tuning, multifdChannels: 4 });
    expect(await rateOf(d2, c2, h2)).toBeCloseTo(24);
  });
});
