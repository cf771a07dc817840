import type { TopologyHost } from './host.js';

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
