/**
 * How migrations share the links they cross. Every migration is one stream through its source
 * NIC and its destination NIC, capped per stream (QEMU's migration thread, encryption); TCP
 * gives max-min fair shares, which progressive filling computes: raise every stream's rate
 * together until a link fills or a stream reaches its cap, freeze those, and go on.
 */

export interface Stream {
  id: string;
  from: string;
  to: string;
  /** The stream's own ceiling (per-stream cap, or a tuned max-bandwidth), bytes/s. */
  capBytesPerS: number;
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
  // Each round saturates a stream or fills a link (at most two per stream): a bound that holds
  // even when rounding leaves a residue above the 1e-6 tolerance on huge rates.
  for (let round = 0; active.length > 0 && round <= 3 * streams.length; round++) {
    const users = new Map<string, number>();
    for (const s of active) for (const l of linkOf(s)) users.set(l, (users.get(l) ?? 0) + 1);
    let step = Number.POSITIVE_INFINITY;
    for (const [link, n] of users) step = Math.min(step, capacity.get(link)! / n);
    for (const s of active) step = Math.min(step, s.capBytesPerS - rates.get(s.id)!);
    if (!Number.isFinite(step)) break;
    for (const s of active) {
      rates.set(s.id, rates.get(s.id)! + step);
      for (const l of linkOf(s)) capacity.set(l, capacity.get(l)! - step);
    }
    const full = (l: string) => capacity.get(l)! <= 1e-6;
    active = active.filter((s) => rates.get(s.id)! < s.capBytesPerS - 1e-6 && !linkOf(s).some(full));
  }
  return rates;
}
