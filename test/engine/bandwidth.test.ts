import { describe, expect, it } from 'vitest';
import { fairShares, type Stream } from '../../src/engine/bandwidth.js';

const links = new Map([
  ['a', 100],
  ['b', 100],
  ['c', 30],
]);
const stream = (id: string, from: string, to: string, cap = 1000): Stream => ({
  id,
  from,
  to,
  capBytesPerS: cap,
});

describe('fair shares', () => {
  it('splits a source NIC evenly between its streams', () => {
    const r = fairShares([stream('1', 'a', 'b'), stream('2', 'a', 'b')], links);
    expect(r.get('1')).toBeCloseTo(50);
    expect(r.get('2')).toBeCloseTo(50);
  });

  it('gives what a capped or bottlenecked stream cannot use to the others', () => {
    const r = fairShares([stream('1', 'a', 'b', 20), stream('2', 'a', 'c'), stream('3', 'a', 'b')], links);
    expect(r.get('1')).toBeCloseTo(20);
    expect(r.get('2')).toBeCloseTo(30); // the destination's NIC is the bottleneck
    expect(r.get('3')).toBeCloseTo(50);
  });

  it('lets outbound and inbound traffic of one host use both directions', () => {
    const r = fairShares([stream('1', 'a', 'b'), stream('2', 'b', 'a')], links);
    expect(r.get('1')).toBeCloseTo(100);
    expect(r.get('2')).toBeCloseTo(100);
  });

  it('gives nothing to a stream capped at zero', () => {
    expect(fairShares([stream('1', 'a', 'b', 0)], links).get('1')).toBe(0);
  });
});
