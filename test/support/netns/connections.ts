import { GBPS, MiB } from '../../../src/engine/model.js';
import type { TopologyHost } from './host.js';

/**
 * Multifd for a small guest whose one stream is capped at 64 MiB/s on a 1 Gb/s link: room for a
 * second channel and no more, so the planner chooses two.
 */
export const ROOM_FOR_TWO_CHANNELS = {
  multifdChannels: 4,
  multifdChannelCapGbps: (64 * MiB) / GBPS,
  multifdMinMemoryGiB: 0.01,
  multifdChannelCpuCores: 0.5,
};

/**
 * The most TCP connections `from` held at once to `to`, other than SSH, sampled (`ss`) until
 * `until` settles: a migration's main channel and one per multifd channel.
 */
export async function mostMigrationConnections(
  from: TopologyHost,
  to: TopologyHost,
  until: Promise<unknown>,
): Promise<number> {
  let settled = false;
  void until.finally(() => {
    settled = true;
  });
  let most = 0;
  while (!settled) {
    const r = await from.exec(['ss', '-tnH', 'state', 'established', 'dst', to.address]);
    const ports = r.stdout
      .split('\n')
      .map((line) => line.trim().split(/\s+/).at(-1)?.split(':').at(-1))
      .filter((port) => port !== undefined && port !== '' && port !== '22');
    most = Math.max(most, ports.length);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return most;
}
