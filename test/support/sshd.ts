import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf } from '../../src/engine/ssh/host-key.js';
import { freePort } from './redis.js';

export interface Sshd {
  port: number;
  dir: string;
  /** Private key the server accepts (for user root). */
  userKeyPath: string;
  /** The server's host key as `SHA256:...` and as a known_hosts line. */
  hostKeyFingerprint: string;
  knownHostsLine: string;
  process: ChildProcess;
  /**
   * Kills the per-connection sshd processes: every open SSH connection drops, the server stays up.
   * Returns how many it killed (0: no connection was open).
   */
  cutConnections(): number;
  stop(): Promise<void>;
}

/**
 * sshd settings every test sshd shares: root by key only (no PAM, no passwords, key files in a
 * temp dir whatever their modes), room for many sessions, nothing printed at login.
 */
export const SSHD_TEST_SETTINGS = [
  'PubkeyAuthentication yes',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'PermitRootLogin prohibit-password',
  'UsePAM no',
  'StrictModes no',
  'X11Forwarding no',
  'MaxSessions 64',
  'MaxStartups 64',
  'UseDNS no',
  'PrintMotd no',
  'PrintLastLog no',
];

function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path], { stdio: 'ignore' });
}

/**
 * Starts OpenSSH's sshd on a free loopback port with freshly generated host and user keys and a
 * private config: key auth only, stream-local forwarding allowed (for QMP sockets).
 */
export async function startSshd(): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory sshd insists on
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sshd-'));
  const port = await freePort();
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(dir, 'user_ed25519');
  keygen(hostKey);
  keygen(userKey);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${userKey}.pub`));
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      ...SSHD_TEST_SETTINGS,
      'AllowStreamLocalForwarding yes',
      // OpenSSH 9.2 refuses stream-local channels too when TCP forwarding is off.
      'AllowTcpForwarding yes',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/);
  await waitForPort(port, child);
  return {
    port,
    dir,
    userKeyPath: userKey,
    hostKeyFingerprint: fingerprintOf(Buffer.from(pub[1]!, 'base64')),
    knownHostsLine: `[127.0.0.1]:${port} ${pub[0]} ${pub[1]}`,
    process: child,
    cutConnections: () => {
      let killed = 0;
      for (const pid of childrenOf(child.pid!)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // gone already
        }
      }
      return killed;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Process ids whose parent is `parent` (read from /proc: no procps needed). */
function childrenOf(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const deadline = Date.now() + 30_000; // generous: a loaded machine may be slow to start sshd
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${stderr}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`sshd did not listen on ${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
