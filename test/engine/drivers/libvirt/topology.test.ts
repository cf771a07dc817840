import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETNS_PREFIX } from '../../../support/netns/layout.js';
import { run } from '../../../support/netns/proc.js';
import { sharedTopology } from '../../../support/netns/shared.js';
import type { Topology, TopologyHost } from '../../../support/netns/topology.js';

/**
 * The hosts the libvirt tests migrate between: separate machines as far as libvirt can tell, a
 * link between them the tests control, and nothing of them in the root network namespace.
 */
describe('the libvirt test topology (hosts in network namespaces)', () => {
  let topology: Topology;
  beforeAll(async () => {
    topology = await sharedTopology();
  }, 180_000);
  afterAll(async () => {
    for (const h of topology?.hosts ?? []) {
      await h.outage(false);
      await h.loss(0);
    }
  });

  const hostname = async (h: TopologyHost) => (await h.exec(['hostname'])).stdout.trim();
  /** From `from`, libvirt's own way to another host: virsh over qemu+ssh, as a p2p migration connects. */
  const remoteHostname = (from: TopologyHost, to: TopologyHost) =>
    from.exec(['virsh', '-c', `qemu+ssh://${to.address}/system`, 'hostname'], { timeoutMs: 60_000 });

  it('gives each host its own name, libvirtd, host uuid and /run', async () => {
    const names = await Promise.all(topology.hosts.map(hostname));
    expect(names).toEqual(topology.hosts.map((h) => h.name));
    expect(await Promise.all(topology.hosts.map(async (h) => (await h.virsh('hostname')).trim()))).toEqual(
      names,
    );
    const uuids = await Promise.all(
      topology.hosts.map(async (h) => /<uuid>([^<]+)<\/uuid>/.exec(await h.virsh('capabilities'))?.[1]),
    );
    expect(new Set(uuids).size).toBe(topology.hosts.length);
    const daemons = topology.hosts.map((h) => h.path('/run/libvirtd.pid'));
    expect(new Set(await Promise.all(daemons.map(async (p) => (await run('cat', [p])).stdout))).size).toBe(
      topology.hosts.length,
    );
  });

  it('adds nothing to the root network namespace: no address, no link of the topology', async () => {
    const addresses = (await run('ip', ['-o', 'addr'])).stdout;
    for (const h of topology.hosts) expect(addresses).not.toContain(h.address);
    const links = (await run('ip', ['-o', 'link'])).stdout;
    expect(links).not.toContain(NETNS_PREFIX);
    for (const h of topology.hosts) expect(links).not.toContain(`p-${h.name}`);
    // ... and the runner cannot reach the hosts' addresses by itself.
    expect((await run('ip', ['route', 'get', topology.hosts[0]!.address])).stdout).not.toMatch(
      /dev (eth0|br0) +src 10\.77\./,
    );
  });

  it("joins the hosts over a bridge, and cuts or thins a host's link on demand", async () => {
    const [a, , c] = topology.hosts as [TopologyHost, TopologyHost, TopologyHost];
    expect((await remoteHostname(a, c)).stdout.trim()).toBe(c.name);

    await c.outage(true);
    const cut = await remoteHostname(a, c);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toMatch(/timed out|Connection reset|No route/i);
    expect(await c.droppedPackets()).toBeGreaterThan(0);
    await c.outage(false);
    expect((await remoteHostname(a, c)).stdout.trim()).toBe(c.name);

    // Random loss: TCP gets through, some packets do not.
    await c.loss(20);
    for (let i = 0; i < 3; i++) expect((await remoteHostname(a, c)).stdout.trim()).toBe(c.name);
    expect(await c.droppedPackets()).toBeGreaterThan(0);
    await c.loss(0);
    expect(await c.droppedPackets()).toBe(0);
  }, 180_000);
});
