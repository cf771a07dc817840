import { IndexedHeap } from './heap.js';
import { compareNames, type HostPool } from './pool.js';

/**
 * A campaign's hosts still to be drained, indexed so that choosing the next one costs
 * O(classes × log hosts) instead of a scan of every remaining host (which made a 10,000-host
 * campaign quadratic). Hosts are grouped by compatibility class, since hosts of one class send
 * their VMs to the same destinations; each class is a heap by load (memory in use, least first,
 * ties by name), kept in order as VMs land on hosts still to come.
 */
export class DrainQueue {
  private readonly heaps = new Map<number, IndexedHeap>();
  private readonly pos: Int32Array;
  private count = 0;

  constructor(
    private readonly pool: HostPool,
    hosts: readonly number[],
  ) {
    this.pos = new Int32Array(pool.hosts.length).fill(-1);
    for (const h of hosts) {
      const cls = pool.classOf(h);
      let heap = this.heaps.get(cls);
      if (!heap) {
        heap = new IndexedHeap(this.lighter, this.pos);
        this.heaps.set(cls, heap);
      }
      heap.push(h);
      this.count++;
    }
    pool.onChange = (h) => this.heaps.get(pool.classOf(h))?.update(h);
  }

  get size(): number {
    return this.count;
  }

  /** Memory in use on a host, bytes. */
  load(host: number): number {
    return this.pool.hosts[host]!.memoryBytes - this.pool.freeMem[host]!;
  }

  /** vCPUs in use on a host. */
  cpus(host: number): number {
    return this.pool.hosts[host]!.vcpus - this.pool.freeCpu[host]!;
  }

  /**
   * Takes the next host to drain: the least loaded (ties by name) of those whose VMs fit in the
   * free memory and vCPUs of `tier` open to their class, less what this step already claimed;
   * when none fits, the least loaded of all.
   */
  take(tier: number, claimedMem: number, claimedCpu: number): number | undefined {
    let best: number | undefined;
    let fallback: number | undefined;
    for (const [cls, heap] of this.heaps) {
      if (heap.size === 0) continue;
      const free = this.pool.freeFor(cls, tier);
      const mem = free.memoryBytes - claimedMem;
      const cpu = free.vcpus - claimedCpu;
      const h = heap.find(
        (x) => !(mem >= this.load(x)),
        (x) => cpu >= this.cpus(x),
      );
      if (h !== undefined && (best === undefined || this.lighter(h, best))) best = h;
      const top = heap.peek()!;
      if (fallback === undefined || this.lighter(top, fallback)) fallback = top;
    }
    const h = best ?? fallback;
    if (h !== undefined) {
      this.heaps.get(this.pool.classOf(h))!.remove(h);
      this.count--;
    }
    return h;
  }

  private readonly lighter = (a: number, b: number): boolean => {
    const x = this.load(a);
    const y = this.load(b);
    if (x !== y) return x < y;
    return compareNames(this.pool.hosts[a]!.name, this.pool.hosts[b]!.name) < 0;
  };
}
