import { GBPS } from './model.js';

/**
 * How migrations share the links they cross. Every migration is a stream through its source
 * NIC and its destination NIC, capped per stream (QEMU's migration thread, encryption); TCP
 * gives max-min fair shares, which progressive filling computes: raise every stream's rate
 * together until a link fills or a stream reaches its cap, freeze those, and go on. A multifd
 * migration is N TCP connections: it weighs N in the sharing (TCP is fair per connection) and
 * its cap is N channels' caps.
 */

export interface Stream {
  id: string;
  from: string;
  to: string;
  /** The stream's own ceiling (per-stream cap, or a tuned max-bandwidth), bytes/s. */
  capBytesPerS: number;
  /** TCP connections it holds (multifd channels): its weight in the fair sharing; default 1. */
  weight?: number;
}

/** The physics of migration streams, from the policy: one stream's cap, and multifd's channels. */
export interface StreamCaps {
  /** One migration stream's cap (no multifd), bytes/s. */
  streamCapBytesPerS: number;
  /** One multifd channel's cap, bytes/s. */
  channelCapBytesPerS: number;
  /** Cores one multifd channel keeps busy on each side; 0 = free. */
  coresPerChannel: number;
}

/** A policy's stream physics in bytes/s. */
export function streamCapsOf(policy: {
  streamCapGbps: number;
  multifdChannelCapGbps: number;
  multifdChannelCpuCores: number;
}): StreamCaps {
  return {
    streamCapBytesPerS: policy.streamCapGbps * GBPS,
    channelCapBytesPerS: policy.multifdChannelCapGbps * GBPS,
    coresPerChannel: policy.multifdChannelCpuCores,
  };
}

/** The channels of `channels` that `spareCores` (the busier side's cores not given to guests) can run; at least one. */
export function channelsWithinCpu(channels: number, caps: StreamCaps, spareCores: number): number {
  if (channels <= 1 || caps.coresPerChannel <= 0) return Math.max(1, channels);
  return Math.max(1, Math.min(channels, Math.floor(spareCores / caps.coresPerChannel + 1e-9)));
}

/** A migration's own cap and weight: one stream, or `channels` multifd channels. */
export function migrationStream(
  channels: number | undefined,
  caps: StreamCaps,
): { capBytesPerS: number; weight: number } {
  const n = channels ?? 1;
  if (n <= 1) return { capBytesPerS: caps.streamCapBytesPerS, weight: 1 };
  return { capBytesPerS: n * caps.channelCapBytesPerS, weight: n };
}

/** Line rate of each host's migration NIC (bytes/s), used in both directions. */
export type LinkRates = ReadonlyMap<string, number>;

/** Max-min fair rate of each stream, bytes/s. Hosts missing from `links` do not constrain. */
export function fairShares(streams: readonly Stream[], links: LinkRates): Map<string, number> {
  const rates = new Map<string, number>(streams.map((s) => [s.id, 0]));
  // Outbound and inbound traffic of a host use different directions of a full-duplex NIC.
  const linkOf = (s: Stream) => [`out:${s.from}`, `in:${s.to}`];
  const capacity = new Map<string, number>();
  for (const s of streams) {
    capacity.set(`out:${s.from}`, links.get(s.from) ?? Number.POSITIVE_INFINITY);
    capacity.set(`in:${s.to}`, links.get(s.to) ?? Number.POSITIVE_INFINITY);
  }
  let active = streams.filter((s) => s.capBytesPerS > 0);
  const weight = (s: Stream) => s.weight ?? 1;
  // Each round saturates a stream or fills a link (at most two per stream): a bound that holds
  // even when rounding leaves a residue above the 1e-6 tolerance on huge rates. `step` is the
  // rate added per unit of weight.
  for (let round = 0; active.length > 0 && round <= 3 * streams.length; round++) {
    const users = new Map<string, number>();
    for (const s of active) for (const l of linkOf(s)) users.set(l, (users.get(l) ?? 0) + weight(s));
    let step = Number.POSITIVE_INFINITY;
    for (const [link, n] of users) step = Math.min(step, capacity.get(link)! / n);
    for (const s of active) step = Math.min(step, (s.capBytesPerS - rates.get(s.id)!) / weight(s));
    if (!Number.isFinite(step)) break;
    for (const s of active) {
      const added = step * weight(s);
      rates.set(s.id, rates.get(s.id)! + added);
      for (const l of linkOf(s)) capacity.set(l, capacity.get(l)! - added);
    }
    const full = (l: string) => capacity.get(l)! <= 1e-6;
    active = active.filter((s) => rates.get(s.id)! < s.capBytesPerS - 1e-6 && !linkOf(s).some(full));
  }
  return rates;
}
