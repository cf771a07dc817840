import type { TopologyHost } from './topology.js';

export interface LinkReading {
  /** When the read started and ended (the counter was read somewhere in between). */
  from: number;
  to: number;
  /** Bytes the host's shaper has sent since it was set. */
  sentBytes: number;
}

/**
 * Reads a shaped host's byte counter (tc) every `everyMs` until stopped: what actually left the
 * host, independent of what QEMU or libvirt estimate (their bandwidth readings also count what
 * went into socket buffers, which fill faster than the link drains them).
 */
export function meterLink(host: TopologyHost, everyMs = 200): { stop(): Promise<LinkReading[]> } {
  const readings: LinkReading[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const from = Date.now();
      const { sentBytes } = await host.shaperStats();
      readings.push({ from, to: Date.now(), sentBytes });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return readings;
    },
  };
}

/**
 * The highest rate, bytes per second, between two readings at least `windowMs` apart. Each span
 * is taken at its longest (from the start of one read to the end of the other), so a slow read
 * can only make the rate look lower, never higher than what the link carried.
 */
export function fastestRate(readings: readonly LinkReading[], windowMs = 1000): number {
  let fastest = 0;
  for (let i = 0; i < readings.length; i++)
    for (let j = i + 1; j < readings.length; j++) {
      const ms = readings[j]!.to - readings[i]!.from;
      if (ms >= windowMs)
        fastest = Math.max(fastest, ((readings[j]!.sentBytes - readings[i]!.sentBytes) * 1000) / ms);
    }
  return fastest;
}
