import type { PolicyConfig } from '../../engine/config.js';
import type { LibvirtConfig } from '../../engine/drivers/libvirt/config.js';
import type { SshPool } from '../../engine/ssh/pool.js';
import { shellCommand } from '../../engine/ssh/quote.js';
import { attempt, type CheckResult, versionAtLeast } from './result.js';

/** What ferry asks of libvirt and QEMU, with the release that brought each and when it is needed. */
export function libvirtRequirements(
  policy: PolicyConfig,
  libvirt: LibvirtConfig,
): { what: string; libvirt: string; qemu: string }[] {
  const needed = [{ what: 'live peer-to-peer migration', libvirt: '1.2.3', qemu: '1.6.0' }];
  if (libvirt.armAutoConverge ?? policy.allowAutoConverge)
    // --auto-converge came with 1.2.3; its throttle settings (--auto-converge-initial and
    // -increment) were added in June 2016, after 2.0.0.
    needed.push({ what: 'auto-converge with its throttle settings', libvirt: '2.1.0', qemu: '2.7.0' });
  if (policy.allowPostCopy) needed.push({ what: 'post-copy', libvirt: '1.3.3', qemu: '2.6.0' });
  // --parallel and --parallel-connections came with libvirt 5.2.0; QEMU named the capability
  // `multifd` (no longer `x-multifd`) in 4.0.
  if (policy.multifdChannels > 1)
    needed.push({ what: 'multifd (--parallel)', libvirt: '5.2.0', qemu: '4.0.0' });
  return needed;
}

/** `virsh version` lines: the library's version and the running hypervisor's. */
export function parseVirshVersion(text: string): { libvirt?: string; qemu?: string } {
  return {
    libvirt: /Using library: libvirt (\d+\.\d+\.\d+)/.exec(text)?.[1],
    qemu: /Running hypervisor: QEMU (\d+\.\d+\.\d+)/.exec(text)?.[1],
  };
}

/**
 * Each host's libvirtd through virsh over SSH, reading only: `virsh version` (libvirt's and
 * QEMU's versions, against what the policy will use), `virsh capabilities` (live migration, and
 * a host UUID no other host shares: libvirt refuses to migrate between hosts with the same one)
 * and, from each host, `virsh -c <destinationUri> uri` to every other host: the path a
 * peer-to-peer migration takes, with the source's own SSH keys and known_hosts.
 */
export async function checkLibvirt(
  options: {
    libvirt: LibvirtConfig;
    policy: PolicyConfig;
    /** Why `from` cannot reach the libvirtd of `to`, or undefined (the driver's precheck). */
    reaches: (from: string, to: string) => Promise<string | undefined>;
  },
  pool: SshPool,
  reachable: readonly string[],
): Promise<CheckResult[]> {
  const { libvirt, policy } = options;
  const virsh = (host: string, args: string[]) =>
    pool.exec(host, shellCommand([libvirt.virsh, '-c', libvirt.uri, ...args]), {
      timeoutMs: libvirt.commandTimeoutS * 1000,
    });
  const requirements = libvirtRequirements(policy, libvirt);
  const uuids = new Map<string, string>();
  const perHost = reachable.map(async (host): Promise<CheckResult[]> => {
    const version = await attempt({ component: 'libvirt', target: host, check: 'version' }, async () => {
      const r = await virsh(host, ['version']);
      if (r.code !== 0)
        return { verdict: 'fail', detail: `virsh version: ${r.stderr.trim() || r.stdout.trim()}` };
      const found = parseVirshVersion(r.stdout);
      if (!found.libvirt || !found.qemu)
        return { verdict: 'fail', detail: `virsh version names no libvirt and QEMU: ${r.stdout.trim()}` };
      const short = requirements.filter(
        (n) => !versionAtLeast(found.libvirt!, n.libvirt) || !versionAtLeast(found.qemu!, n.qemu),
      );
      const versions = `libvirt ${found.libvirt}, QEMU ${found.qemu}`;
      return short.length === 0
        ? { verdict: 'ok', detail: `${versions}: ${requirements.map((n) => n.what).join(', ')}` }
        : {
            verdict: 'fail',
            detail: `${versions}: ${short.map((n) => `${n.what} needs libvirt ${n.libvirt} and QEMU ${n.qemu}`).join('; ')}`,
          };
    });
    const capabilities = await attempt(
      { component: 'libvirt', target: host, check: 'capabilities' },
      async () => {
        const r = await virsh(host, ['capabilities']);
        if (r.code !== 0)
          return { verdict: 'fail', detail: `virsh capabilities: ${r.stderr.trim() || r.stdout.trim()}` };
        const uuid = /<host>\s*<uuid>([^<]+)<\/uuid>/.exec(r.stdout)?.[1];
        if (uuid) uuids.set(host, uuid);
        return /<migration_features>[\s\S]*<live\/>[\s\S]*<\/migration_features>/.test(r.stdout)
          ? { verdict: 'ok', detail: `live migration; host UUID ${uuid ?? 'unknown'}` }
          : { verdict: 'fail', detail: 'virsh capabilities lists no live migration' };
      },
    );
    return [version, capabilities];
  });
  const results = (await Promise.all(perHost)).flat();
  for (const [host, uuid] of uuids) {
    const twins = [...uuids].filter(([other, u]) => other !== host && u === uuid).map(([other]) => other);
    if (twins.length > 0)
      results.push({
        component: 'libvirt',
        target: host,
        check: 'host UUID',
        verdict: 'fail',
        detail: `${host} shares host UUID ${uuid} with ${twins.join(', ')}: libvirt refuses such a migration as "to the same host"; set a distinct host_uuid in libvirtd.conf`,
      });
  }
  // Sources one at a time each, all of them at once: a host's sshd is asked one thing at a time.
  const paths = reachable.map(async (from) => {
    const out: CheckResult[] = [];
    for (const to of reachable.filter((h) => h !== from))
      out.push(
        await attempt(
          { component: 'libvirt', target: `${from} → ${to}`, check: 'peer reachable' },
          async () => {
            const why = await options.reaches(from, to);
            return why
              ? { verdict: 'fail', detail: why }
              : { verdict: 'ok', detail: `${from}'s libvirtd path to ${to} answers` };
          },
        ),
      );
    return out;
  });
  results.push(...(await Promise.all(paths)).flat());
  return results;
}
