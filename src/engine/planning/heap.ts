/**
 * Priority queues for the planner. Hosts are small integers (their index in the pool), so the
 * indexed heap keeps each host's position in a shared array and can re-sift one host in
 * O(log n) when its free capacity changes.
 */

/** `before(a, b)`: true when `a` should come out first. */
export type Before<T> = (a: T, b: T) => boolean;

/** A plain binary heap. */
export class BinaryHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly before: Before<T>) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }
}

/**
 * A heap of host indices whose order depends on mutable facts (free capacity): call `update`
 * after changing a member's facts. `pos` is shared by every heap of one pool, since a host sits
 * in at most one heap at a time (-1: in none).
 */
export class IndexedHeap {
  private readonly items: number[] = [];

  constructor(
    private readonly before: Before<number>,
    private readonly pos: Int32Array,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /** The first member in heap order, left in place. */
  peek(): number | undefined {
    return this.items[0];
  }

  push(host: number): void {
    this.items.push(host);
    this.pos[host] = this.items.length - 1;
    this.up(this.items.length - 1);
  }

  remove(host: number): void {
    const i = this.pos[host]!;
    if (i < 0) return;
    const last = this.items.pop()!;
    this.pos[host] = -1;
    if (i < this.items.length) {
      this.items[i] = last;
      this.pos[last] = i;
      this.update(last);
    }
  }

  /** Restores the heap order after `host`'s facts changed. */
  update(host: number): void {
    const i = this.pos[host]!;
    if (i < 0) return;
    this.down(this.up(i));
  }

  /**
   * The first member in heap order that satisfies `ok`, visiting members best-first and giving
   * up as soon as `hopeless` holds (everything after it in heap order is worse, so also hopeless).
   * Costs O(k log k) for k members skipped, not O(n).
   */
  find(hopeless: (host: number) => boolean, ok: (host: number) => boolean): number | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    if (hopeless(top)) return undefined;
    if (ok(top)) return top;
    const frontier = new BinaryHeap<number>((i, j) => this.before(items[i]!, items[j]!));
    if (items.length > 1) frontier.push(1);
    if (items.length > 2) frontier.push(2);
    for (let i = frontier.pop(); i !== undefined; i = frontier.pop()) {
      const host = items[i]!;
      if (hopeless(host)) return undefined;
      if (ok(host)) return host;
      const l = 2 * i + 1;
      if (l < items.length) frontier.push(l);
      if (l + 1 < items.length) frontier.push(l + 1);
    }
    return undefined;
  }

  private up(start: number): number {
    const items = this.items;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
    return i;
  }

  private down(start: number): void {
    const items = this.items;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
      if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    this.pos[a] = j;
    this.pos[b] = i;
  }
}
