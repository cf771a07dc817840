import { channelsWithinCpu, streamCapsOf } from '../bandwidth.js';
import type { PolicyConfig } from '../config.js';
import { GiB, type Move, type Prediction } from '../model.js';
import { formatRate } from '../words.js';
import { predictMove } from './convergence.js';
import { aloneRate, type HostsByName, hostOf } from './schedule.js';

/**
 * How many multifd channels a move gets. More than one stream only pays where one stream is the
 * bottleneck: a move large enough (or dirtying fast enough) that one stream's cap makes it long
 * or keeps it from converging, on links with room beyond that cap. Never for a move that may need
 * post-copy: QEMU 10 refuses multifd together with postcopy-ram ("Postcopy is not yet compatible
 * with multifd"), so such a move keeps one stream and its post-copy, and the plan says why.
 */

/**
 * A move is fast-dirtying when one stream alone does not converge it by plain pre-copy, or its
 * pre-copy resends more than this fraction of its memory (pages dirtied during their own pass):
 * that is what a faster stream saves.
 */
export const MULTIFD_RESEND_FRACTION = 0.25;

/** The channel choice for one move, with the reason the plan shows. */
export interface ChannelChoice {
  channels: number;
  /** Absent when multifd is off (multifdChannels 1): plans read as before. */
  why?: string;
  prediction: Prediction;
}

/** The facts of a move the choice reads (its prediction is made here). */
export type ChannelMove = Pick<Move, 'from' | 'to' | 'memoryBytes' | 'dirtyBytesPerS' | 'downtimeSloMs'>;

/** What a migration started with multifd may do: no post-copy (it lacks the capability). */
export function multifdPolicy<P extends Pick<PolicyConfig, 'allowPostCopy'>>(
  policy: P,
  channels: number | undefined,
): P {
  return (channels ?? 1) > 1 && policy.allowPostCopy ? { ...policy, allowPostCopy: false } : policy;
}

/**
 * The channels for `move` and its prediction alone on its links. `spareCores` is the fewest
 * cores not given to guests on either of its hosts, shared by up to the ceilings' number of
 * migrations there: each channel needs `multifdChannelCpuCores` of them on both sides.
 */
export function chooseChannels(
  move: ChannelMove,
  hosts: HostsByName,
  policy: PolicyConfig,
  spareCores: number,
): ChannelChoice {
  const predict = (channels: number) =>
    predictMove(
      {
        memoryBytes: move.memoryBytes,
        dirtyBytesPerS: move.dirtyBytesPerS,
        downtimeSloMs: move.downtimeSloMs,
        bandwidthBytesPerS: aloneRate(move, hosts, policy, channels),
      },
      multifdPolicy(policy, channels),
    );
  const single = predict(1);
  if (policy.multifdChannels <= 1 || policy.admission !== 'bandwidth')
    return { channels: 1, prediction: single };
  const one = (why: string): ChannelChoice => ({ channels: 1, why, prediction: single });

  const caps = streamCapsOf(policy);
  const link = Math.min(
    hostOf(hosts, move.from)?.nicBytesPerS ?? Number.POSITIVE_INFINITY,
    hostOf(hosts, move.to)?.nicBytesPerS ?? Number.POSITIVE_INFINITY,
  );
  if (!(link > caps.streamCapBytesPerS * (1 + 1e-9)))
    return one(`one stream: the link (${formatRate(link)}) has no room beyond one stream's cap`);
  const large = move.memoryBytes >= policy.multifdMinMemoryGiB * GiB;
  const dirty =
    single.strategy !== 'precopy' || single.bytesSent > (1 + MULTIFD_RESEND_FRACTION) * move.memoryBytes;
  if (!large && !dirty)
    return one(`one stream: under ${policy.multifdMinMemoryGiB} GiB and quiet enough for one`);

  // Enough channels to fill the link, within the policy's most and the hosts' spare cores.
  const wanted = Math.min(policy.multifdChannels, Math.ceil(link / caps.channelCapBytesPerS - 1e-9));
  const shared = Math.max(policy.maxPerSource, policy.maxPerDestination);
  const channels = channelsWithinCpu(wanted, caps, spareCores / shared);
  if (channels <= 1)
    return one(
      wanted <= 1
        ? 'one stream: one channel already fills the link'
        : `one stream: the hosts have no spare cores for ${wanted} channels`,
    );
  // A move predicted to need post-copy on one stream keeps it: post-copy sends each page once
  // (channels would only resend the pages its guest dirties faster), and QEMU refuses the two together.
  if (single.strategy === 'postcopy')
    return one('one stream: predicted to need post-copy, and QEMU refuses multifd with post-copy');
  const multi = predict(channels);
  const risky = (p: Prediction) => p.strategy === 'postcopy' || p.strategy === 'pause' || !p.converges;
  if (risky(multi) && policy.allowPostCopy)
    return one(
      `one stream: predicted to need post-copy even with ${channels} channels, and QEMU refuses multifd with post-copy`,
    );
  const rate = formatRate(aloneRate(move, hosts, policy, channels));
  const gain =
    single.strategy !== multi.strategy
      ? `${multi.strategy} instead of ${single.strategy}`
      : `${Math.round(single.durationMs / 1000)} s alone on one stream, ${Math.round(multi.durationMs / 1000)} s on ${channels}`;
  return { channels, why: `${channels} channels (up to ${rate}): ${gain}`, prediction: multi };
}
