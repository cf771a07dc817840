import { describe, expect, it } from 'vitest';
import { BinaryHeap, IndexedHeap } from '../../../src/engine/planning/heap.js';

describe('the heaps behind placement', () => {
  it('pops in order', () => {
    const heap = new BinaryHeap<number>((a, b) => a < b);
    for (const n of [5, 3, 9, 1, 7, 3]) heap.push(n);
    const out: number[] = [];
    for (let n = heap.pop(); n !== undefined; n = heap.pop()) out.push(n);
    expect(out).toEqual([1, 3, 3, 5, 7, 9]);
  });

  it('finds the best member that qualifies, as a scan of the sorted members would, after updates and removals', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const n = 200;
    const free = Array.from({ length: n }, () => Math.floor(random() * 50));
    const before = (a: number, b: number) => free[a]! > free[b]! || (free[a] === free[b] && a < b);
    const heap = new IndexedHeap(before, new Int32Array(n).fill(-1));
    const members = new Set<number>();
    for (let h = 0; h < n; h++) {
      heap.push(h);
      members.add(h);
    }
    for (let round = 0; round < 500; round++) {
      const h = Math.floor(random() * n);
      if (members.has(h) && random() < 0.2) {
        heap.remove(h);
        members.delete(h);
      } else if (members.has(h)) {
        free[h] = Math.floor(random() * 50);
        heap.update(h);
      }
      const need = Math.floor(random() * 50);
      const odd = (x: number) => x % 3 !== 0;
      const expected = [...members]
        .sort((a, b) => (before(a, b) ? -1 : 1))
        .find((x) => free[x]! >= need && odd(x));
      expect(heap.find((x) => free[x]! < need, odd)).toBe(expected);
    }
  });
});
