import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';

/** One host's sshd as ferry reaches it from outside the topology. */
export interface ForwardTarget {
  name: string;
  holderPid: number;
  sshdConfig: string;
  sshdLog: string;
}

export interface ForwardedHost {
  name: string;
  address: string;
  port: number;
}

/** ferry's way into the hosts: a loopback port per host, each connection a session of that host's sshd. */
export interface SshForwarders {
  hosts: ForwardedHost[];
  /** Drops every open ferry connection to `host` (as a network cut would); returns how many. */
  cut(host: string): number;
  close(): Promise<void>;
}

/**
 * The test runner lives in the root network namespace, which has no route into the topology
 * (and gets none: no address is ever added to it). Each host gets a listener on 127.0.0.1 of the
 * runner's own process; every connection to it is handed to a fresh `sshd -i` (inetd mode, the
 * way OpenSSH's own tests proxy sshd) started inside the host's namespaces with the host's own
 * config and host key. ferry's SshPool connects to it like to any sshd: same host key, same
 * authorized keys, a shell on that host. libvirt's own host-to-host connections do not pass here,
 * so cutting these leaves migrations (and their links) alone.
 */
export async function startSshForwarders(targets: readonly ForwardTarget[]): Promise<SshForwarders> {
  const servers: Server[] = [];
  const open = new Map<string, Set<{ socket: Socket; sshd: ChildProcess }>>();
  const hosts: ForwardedHost[] = [];
  for (const target of targets) {
    const sessions = new Set<{ socket: Socket; sshd: ChildProcess }>();
    open.set(target.name, sessions);
    const server = createServer((socket) => {
      const sshd = spawn(
        'nsenter',
        [
          '-t',
          String(target.holderPid),
          '-n',
          '-u',
          '-m',
          '--',
          '/usr/sbin/sshd',
          '-i',
          '-f',
          target.sshdConfig,
          '-E',
          target.sshdLog,
        ],
        { stdio: ['pipe', 'pipe', 'ignore'] },
      );
      const session = { socket, sshd };
      sessions.add(session);
      socket.pipe(sshd.stdin!);
      sshd.stdout!.pipe(socket);
      const end = () => {
        sessions.delete(session);
        socket.destroy();
        if (sshd.exitCode === null && sshd.signalCode === null) sshd.kill('SIGKILL');
      };
      socket.on('error', end);
      socket.on('close', end);
      sshd.stdin!.on('error', end);
      sshd.on('exit', end);
      sshd.on('error', end);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    servers.push(server);
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('listener has no port');
    hosts.push({ name: target.name, address: '127.0.0.1', port: address.port });
  }
  return {
    hosts,
    cut(host) {
      const sessions = open.get(host);
      if (!sessions) throw new Error(`no forwarder for ${host}`);
      const n = sessions.size;
      for (const s of [...sessions]) {
        s.socket.destroy();
        s.sshd.kill('SIGKILL');
      }
      return n;
    },
    async close() {
      for (const sessions of open.values()) for (const s of [...sessions]) s.socket.destroy();
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
}
