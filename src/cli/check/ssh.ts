import type { ParsedKey } from 'ssh2';
import { readSecret, SECRETS } from '../../engine/secrets.js';
import type { SshConfig } from '../../engine/ssh/config.js';
import { parseHostKeyPin } from '../../engine/ssh/host-key.js';
import { SshPool, type SshTarget } from '../../engine/ssh/pool.js';
import { readPrivateKey } from '../../engine/ssh/private-key.js';
import { attempt, type CheckResult } from './result.js';

export interface SshReach {
  results: CheckResult[];
  /** A pool to the hosts that answered, for the hypervisor checks (closed by the caller). */
  pool: SshPool;
  /** Hosts ferry reached with its key and the pinned host key. */
  reachable: string[];
}

/**
 * Each fleet host over SSH as the drivers reach it: an `ssh.hosts` entry, its private key
 * readable by its owner only and opened (with the passphrase when encrypted), and a connection
 * that presents the pinned host key and accepts ferry's key. One attempt each: a preflight
 * reports what is wrong now instead of backing off.
 */
export async function checkSsh(
  ssh: SshConfig,
  fleetHosts: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<SshReach> {
  const results: CheckResult[] = [];
  const entries = new Map(ssh.hosts.map((h) => [h.name, h]));
  for (const host of fleetHosts)
    if (!entries.has(host))
      results.push({
        component: 'ssh',
        target: host,
        check: 'configured',
        verdict: 'fail',
        detail: `ssh.hosts has no entry for ${host}: ferry cannot reach it`,
      });
  const passphrase = ssh.privateKeyPassphrase;
  const keyPaths = [...new Set(ssh.hosts.map((h) => h.privateKeyPath ?? ssh.privateKeyPath))];
  const keys = new Map<string, ParsedKey>();
  for (const path of keyPaths) {
    const result = await attempt({ component: 'ssh', target: path, check: 'private key' }, async () => {
      keys.set(path, readPrivateKey(path, passphrase));
      const secret = passphrase && readSecret(SECRETS.sshKeyPassphrase, env, passphrase);
      return {
        verdict: 'ok',
        detail: `readable by its owner only; ${secret ? `opened with the passphrase from ${secret.origin}` : 'not encrypted'}`,
      };
    });
    results.push(result);
  }
  const targets = new Map<string, SshTarget>();
  for (const h of ssh.hosts) {
    const key = keys.get(h.privateKeyPath ?? ssh.privateKeyPath);
    if (key)
      targets.set(h.name, {
        address: h.address,
        port: h.port,
        username: h.user ?? ssh.user,
        privateKey: key,
        hostKey: parseHostKeyPin(h.hostKey),
      });
  }
  const pool = new SshPool(targets, {
    connectAttempts: 1,
    connectTimeoutMs: ssh.connectTimeoutS * 1000,
    commandTimeoutMs: ssh.commandTimeoutS * 1000,
    keepaliveIntervalMs: ssh.keepaliveIntervalS * 1000,
    keepaliveCountMax: ssh.keepaliveCountMax,
  });
  const reachable: string[] = [];
  const connections = await Promise.all(
    [...targets].map(([name, target]) =>
      attempt({ component: 'ssh', target: name, check: 'reachable' }, async () => {
        const r = await pool.exec(name, 'true');
        if (r.code !== 0) return { verdict: 'fail', detail: `\`true\` exited ${r.code}: ${r.stderr.trim()}` };
        reachable.push(name);
        return {
          verdict: 'ok',
          detail: `${target.username}@${target.address}:${target.port}, host key ${target.hostKey.fingerprint} as pinned, ferry's key accepted`,
        };
      }),
    ),
  );
  results.push(...connections);
  return { results, pool, reachable };
}
