import { describe, expect, it } from 'vitest';
import { GBPS, type Host } from '../../../src/engine/model.js';
import { admit, sharesOf } from '../../../src/engine/planning/index.js';
import { host, move, policy } from './fleet.js';

// 25 Gb/s NICs everywhere; the default policy caps a stream at 8 Gb/s and wants 1.25 × the dirty rate.
const hosts = new Map<string, Host>(['src', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6'].map((n) => [n, host(n)]));
const names = (moves: { instance: string }[]) => moves.map((m) => m.instance);
const heavy = (name: string, to: string) => move(name, 'src', to, 700);
const light = (name: string, to: string) => move(name, 'src', to, 10);

describe("ferry's bandwidth admission", () => {
  it('starts heavy writers only as long as each keeps 1.25 × its dirty rate: three on a 25 Gb/s link, not four', () => {
    const pending = [heavy('h1', 'd1'), heavy('h2', 'd2'), heavy('h3', 'd3'), heavy('h4', 'd4')];
    const started = admit({ running: [], pending, hosts, policy: policy({ maxPerSource: 8 }) });
    expect(names(started)).toEqual(['h1', 'h2', 'h3']);
    // Each gets the 8 Gb/s stream cap (> 700 MiB/s × 1.25 = 7.3 Gb/s): the link carries 24 of its 25 Gb/s.
    const shares = sharesOf(started, hosts, policy());
    for (const share of shares.values()) expect(share).toBeCloseTo(8 * GBPS);
  });

  it('does not start three heavy writers together on a link that already carries two migrations', () => {
    const running = [light('l1', 'd5'), light('l2', 'd6')];
    const pending = [heavy('h1', 'd1'), heavy('h2', 'd2'), heavy('h3', 'd3')];
    const started = admit({ running, pending, hosts, policy: policy() });
    expect(names(started)).toEqual(['h1']);
    const shares = sharesOf([...running, ...started], hosts, policy());
    const used = [...shares.values()].reduce((a, b) => a + b, 0);
    expect(used / GBPS).toBeGreaterThanOrEqual(23.99);
  });

  it('starts the heaviest writers first and lets small moves fill the gaps they leave', () => {
    const pending = [light('l1', 'd3'), light('l2', 'd4'), heavy('h1', 'd1'), heavy('h2', 'd2')];
    const started = admit({ running: [], pending, hosts, policy: policy() });
    expect(names(started)).toEqual(['h1', 'h2', 'l1']);
  });

  it('keeps the link for a heavy writer instead of starting small moves ahead of it', () => {
    const running = [light('l1', 'd1'), light('l2', 'd2'), light('l3', 'd3')];
    const pending = [heavy('h1', 'd4'), light('l4', 'd5')];
    expect(admit({ running, pending, hosts, policy: policy() })).toEqual([]);
    // Once two small moves have finished, the heavy writer starts, and a small one beside it.
    expect(names(admit({ running: running.slice(2), pending, hosts, policy: policy() }))).toEqual([
      'h1',
      'l4',
    ]);
  });

  it('starts a writer too heavy for any share once its links are free, rather than never', () => {
    const hog = move('hog', 'src', 'd1', 1500);
    const busy = [light('l1', 'd2'), light('l2', 'd3'), light('l3', 'd4')];
    expect(admit({ running: busy, pending: [hog], hosts, policy: policy() })).toEqual([]);
    expect(names(admit({ running: [], pending: [hog], hosts, policy: policy() }))).toEqual(['hog']);
  });

  it('asks less of a move planned for post-copy, which converges at any bandwidth', () => {
    const running = [light('l1', 'd2'), light('l2', 'd3'), light('l3', 'd4')];
    const precopy = move('hog', 'src', 'd1', 1500);
    const postcopy = move('hog', 'src', 'd1', 1500, {
      prediction: { ...precopy.prediction, strategy: 'postcopy' },
    });
    expect(admit({ running, pending: [precopy], hosts, policy: policy() })).toEqual([]);
    expect(names(admit({ running, pending: [postcopy], hosts, policy: policy() }))).toEqual(['hog']);
  });

  it('does not let a struggling migration on other links hold back unrelated moves', () => {
    const starved = move('starved', 'other', 'd6', 2000);
    const wide = new Map([...hosts, ['other', host('other', { nicBytesPerS: 1 * GBPS })]]);
    const started = admit({
      running: [starved],
      pending: [light('l1', 'd1')],
      hosts: wide,
      policy: policy(),
    });
    expect(names(started)).toEqual(['l1']);
  });

  it('respects maxPerSource, maxPerDestination and maxGlobal whatever the bandwidth', () => {
    const pending = ['a', 'b', 'c', 'd', 'e'].map((n) => light(n, 'd1'));
    expect(admit({ running: [], pending, hosts, policy: policy({ maxPerDestination: 2 }) })).toHaveLength(2);
    const spread = ['a', 'b', 'c', 'd', 'e', 'f'].map((n, i) => light(n, `d${i + 1}`));
    expect(admit({ running: [], pending: spread, hosts, policy: policy({ maxPerSource: 4 }) })).toHaveLength(
      4,
    );
    const elsewhere = [move('x', 'd5', 'd6', 10), move('y', 'd6', 'd5', 10)];
    expect(
      admit({
        running: elsewhere,
        pending: spread,
        hosts,
        policy: policy({ maxGlobal: 3, maxPerSource: 4 }),
      }),
    ).toHaveLength(1);
  });

  it('accepts hosts as a plain object', () => {
    const plain = Object.fromEntries(hosts);
    expect(
      names(admit({ running: [], pending: [light('l1', 'd1')], hosts: plain, policy: policy() })),
    ).toEqual(['l1']);
  });
});

describe('the fixed admission of the anchors', () => {
  it('admits by count only, in FIFO order, even when the shares cannot carry the dirty rates', () => {
    const pending = [
      light('l1', 'd5'),
      heavy('h1', 'd1'),
      heavy('h2', 'd2'),
      heavy('h3', 'd3'),
      heavy('h4', 'd4'),
    ];
    const started = admit({ running: [], pending, hosts, policy: policy({ admission: 'fixed' }) });
    expect(names(started)).toEqual(['l1', 'h1', 'h2', 'h3']);
    const shares = sharesOf(started, hosts, policy());
    expect(shares.get('h1')! / GBPS).toBeCloseTo(6.25);
  });

  it('skips a move whose destination is full and starts the next one', () => {
    const running = [light('l1', 'd1'), light('l2', 'd1')];
    const pending = [light('l3', 'd1'), light('l4', 'd2')];
    const started = admit({
      running,
      pending,
      hosts,
      policy: policy({ admission: 'fixed', maxPerDestination: 2 }),
    });
    expect(names(started)).toEqual(['l4']);
  });
});
