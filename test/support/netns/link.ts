import { UPLINK } from './layout.js';

/**
 * What a host's link does besides carrying packets: a rate (tc tbf on the host's side, so it
 * shapes what the host sends) and faults made with nftables inside the host's namespace (this
 * kernel has no netem): random loss, or an outage that drops everything. Only the uplink to the
 * other hosts is affected; ferry's own SSH sessions reach each host from outside the topology.
 */
export interface LinkState {
  /** Bytes per second the host may send; undefined: unshaped. */
  rateBytesPerS?: number;
  /** Percent of packets dropped, each direction. */
  lossPct: number;
  outage: boolean;
}

/** `tc` arguments that set (or clear) the rate. */
export function tcArgs(rateBytesPerS: number | undefined): string[] {
  if (rateBytesPerS === undefined) return ['qdisc', 'del', 'dev', UPLINK, 'root'];
  if (!(rateBytesPerS >= 1000)) throw new Error(`link rate ${rateBytesPerS} B/s is too low to shape`);
  const bits = Math.round(rateBytesPerS * 8);
  // A bucket of about 10 ms at the rate (at least a few full frames), a queue of 100 ms.
  const burst = Math.max(16 * 1024, Math.round(rateBytesPerS / 100));
  return [
    'qdisc',
    'replace',
    'dev',
    UPLINK,
    'root',
    'tbf',
    'rate',
    `${bits}bit`,
    'burst',
    String(burst),
    'latency',
    '100ms',
  ];
}

export const NFT_TABLE = 'ferry_link';

/** One nft script that replaces the host's fault table atomically. */
export function nftScript(state: Pick<LinkState, 'lossPct' | 'outage'>): string {
  if (!(state.lossPct >= 0 && state.lossPct <= 100))
    throw new Error(`loss ${state.lossPct} % is not a percent`);
  const verdict = state.outage
    ? 'counter drop'
    : state.lossPct > 0
      ? `numgen random mod 100 < ${Math.round(state.lossPct)} counter drop`
      : undefined;
  const chain = (name: string, hook: string, match: string) =>
    [
      `  chain ${name} {`,
      `    type filter hook ${hook} priority 0; policy accept;`,
      ...(verdict ? [`    ${match} "${UPLINK}" ${verdict}`] : []),
      '  }',
    ].join('\n');
  // `add` then `delete` makes the delete succeed whether or not the table existed.
  return [
    `add table inet ${NFT_TABLE}`,
    `delete table inet ${NFT_TABLE}`,
    `table inet ${NFT_TABLE} {`,
    chain('input', 'input', 'iifname'),
    chain('output', 'output', 'oifname'),
    '}',
    '',
  ].join('\n');
}
