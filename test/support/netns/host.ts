import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fingerprintOf } from '../../../src/engine/ssh/host-key.js';
import { type HostLayout, type Keys, publicKey, UPLINK } from './layout.js';
import { type LinkState, NFT_TABLE, nftScript, tcArgs } from './link.js';
import { must, type RunResult, run, terminate } from './proc.js';

/** One host of the topology, as the test runner drives it. */
export interface TopologyHost {
  readonly name: string;
  /** Where the other hosts (and their libvirtd) reach this one: not reachable from the runner. */
  readonly address: string;
  readonly netns: string;
  /** The process that holds the host's namespaces; `/proc/PID/root` is the host's file system. */
  readonly holderPid: number;
  /** Runs a program in the host's network, UTS and mount namespaces. */
  exec(argv: readonly string[], options?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** `virsh -c qemu:///system ARGS` on the host; throws with virsh's error on failure. */
  virsh(...args: string[]): Promise<string>;
  /** A path on the host as the runner sees it (through the holder's root). */
  path(hostPath: string): string;
  /** The host's SSH host key as ferry pins it (`SHA256:...`). */
  hostKeyFingerprint(): string;
  /** Shapes what the host sends to the others (tc tbf); undefined removes the shaping. */
  shape(rateBytesPerS: number | undefined): Promise<void>;
  /** What the host's shaper saw since it was set: bytes sent, and how often it held packets back. */
  shaperStats(): Promise<{ sentBytes: number; overlimits: number; dropped: number }>;
  /** Packets the loss and outage rules have dropped since they were last set. */
  droppedPackets(): Promise<number>;
  /** Drops `pct` % of the packets on the host's link, each direction (nftables). */
  loss(pct: number): Promise<void>;
  /** Cuts (or restores) the host's link to the others entirely (nftables). */
  outage(on: boolean): Promise<void>;
  /** Restarts the host's sshd with a newly generated host key; the returned function puts the old one back. */
  replaceHostKey(): Promise<() => Promise<void>>;
}

/** A handle on a running host: any process can make one from the topology's description. */
export function hostHandle(h: HostLayout, holderPid: number, keys: Pick<Keys, 'hostKey'>): TopologyHost {
  const exec = (argv: readonly string[], options: { timeoutMs?: number; input?: string } = {}) =>
    run('nsenter', ['-t', String(holderPid), '-n', '-u', '-m', '--', ...argv], options);
  const mustExec = async (argv: readonly string[], input?: string) => {
    const r = await exec(argv, { input });
    if (r.code !== 0)
      throw new Error(`${h.name}: ${argv.join(' ')} exited with ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  // The link's state is a file, so that every process attached to the topology sees the same.
  const stateFile = join(h.dir, 'link.json');
  const linkState = (): LinkState =>
    existsSync(stateFile)
      ? (JSON.parse(readFileSync(stateFile, 'utf8')) as LinkState)
      : { lossPct: 0, outage: false };
  const faults = async (change: Partial<LinkState>) => {
    const next = { ...linkState(), ...change };
    await mustExec(['nft', '-f', '-'], nftScript(next));
    writeFileSync(stateFile, JSON.stringify(next));
  };
  const restartSshd = async () => {
    const pidFile = `/proc/${holderPid}/root/run/sshd.pid`;
    const old = Number(readFileSync(pidFile, 'utf8').trim());
    await terminate([old]);
    await mustExec(['/usr/sbin/sshd', '-f', join(h.dir, 'sshd_config'), '-E', join(h.dir, 'sshd.log')]);
  };
  const keyPath = keys.hostKey(h.name);
  return {
    name: h.name,
    address: h.address,
    netns: h.netns,
    holderPid,
    exec,
    virsh: (...args) => mustExec(['virsh', '-c', 'qemu:///system', ...args]),
    path: (hostPath) => `/proc/${holderPid}/root${hostPath.startsWith('/') ? '' : '/'}${hostPath}`,
    hostKeyFingerprint: () => fingerprintOf(Buffer.from(publicKey(keyPath).split(' ')[1]!, 'base64')),
    async shape(rateBytesPerS) {
      const r = await exec(['tc', ...tcArgs(rateBytesPerS)]);
      // Removing a rate that was never set is fine; anything else is not.
      if (r.code !== 0 && !(rateBytesPerS === undefined && /No such file|Cannot delete/i.test(r.stderr)))
        throw new Error(`${h.name}: tc exited with ${r.code}: ${r.stderr.trim()}`);
      const state = linkState();
      writeFileSync(stateFile, JSON.stringify({ ...state, rateBytesPerS }));
    },
    async shaperStats() {
      const text = await mustExec(['tc', '-s', 'qdisc', 'show', 'dev', UPLINK]);
      const m = /Sent (\d+) bytes \d+ pkt \(dropped (\d+), overlimits (\d+)/.exec(text);
      if (!m) throw new Error(`${h.name}: no qdisc statistics in: ${text}`);
      return { sentBytes: Number(m[1]), dropped: Number(m[2]), overlimits: Number(m[3]) };
    },
    async droppedPackets() {
      const r = await exec(['nft', 'list', 'table', 'inet', NFT_TABLE]);
      if (r.code !== 0) return 0; // no fault was ever set
      return [...r.stdout.matchAll(/counter packets (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    },
    loss: (pct) => faults({ lossPct: pct }),
    outage: (on) => faults({ outage: on }),
    async replaceHostKey() {
      for (const ext of ['', '.pub']) renameSync(`${keyPath}${ext}`, `${keyPath}.orig${ext}`);
      await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${h.name}-replaced`, '-f', keyPath]);
      await restartSshd();
      return async () => {
        for (const ext of ['', '.pub']) renameSync(`${keyPath}.orig${ext}`, `${keyPath}${ext}`);
        await restartSshd();
      };
    },
  };
}
