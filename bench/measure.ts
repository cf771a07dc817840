import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Wall time and peak heap of one synchronous call, in process.
 *
 * Time: performance.now() around the call (monotonic, sub-millisecond), one cold run — what an
 * operator waits for — after a full GC so no earlier garbage is collected on the call's clock.
 *
 * Memory: the V8 heap's high-water mark during the call. A full GC first leaves only live data
 * (`baseBytes`: the fleet and everything else the process holds). While the call runs, a
 * v8.GCProfiler records the heap's used size just before every GC it triggers; the peak is the
 * largest of those and of the used size when the call returns. Garbage counts until collected, so
 * this is what the heap really had to hold, never less. `maxRssBytes` is the process's
 * resident-set high-water mark since it started (getrusage): an upper bound for everything,
 * runtime and earlier scenarios included.
 */

export interface Measurement<T> {
  value: T;
  ms: number;
  /** CPU time of the process during the call (user + system), ms: what it costs on a shared machine. */
  cpuMs: number;
  /** Heap used after a full GC before the call, bytes. */
  baseBytes: number;
  /** Highest heap used during the call, bytes (absolute, base included). */
  peakBytes: number;
  maxRssBytes: number;
}

let collect: (() => void) | undefined;

/** A full GC: `--expose-gc` switched on at run time, then gc() taken from a fresh context. */
export function fullGc(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Measures one call of `fn` (see the module comment for how). */
export function measure<T>(fn: () => T): Measurement<T> {
  fullGc();
  const baseBytes = v8.getHeapStatistics().used_heap_size;
  const profiler = new v8.GCProfiler();
  profiler.start();
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  const endBytes = v8.getHeapStatistics().used_heap_size;
  const gcs = profiler.stop().statistics;
  const peakBytes = Math.max(endBytes, ...gcs.map((s) => s.beforeGC.heapStatistics.usedHeapSize));
  return {
    value,
    ms,
    cpuMs: (used.user + used.system) / 1000,
    baseBytes,
    peakBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}
