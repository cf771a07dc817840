import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ParsedKey, type PublicKeyAuthMethod } from 'ssh2';
import {
  AuthError,
  ConfigError,
  DriverUnreachableError,
  type FerryError,
  HostKeyMismatchError,
  NotFoundError,
  TimeoutError,
} from '../errors.js';
import type { SshConfig } from './config.js';
import { fingerprintOf, type HostKeyPin, matchesPin, parseHostKeyPin } from './host-key.js';
import { readPrivateKey } from './private-key.js';

/** Everything needed to open one SSH connection. */
export interface SshTarget {
  address: string;
  port: number;
  username: string;
  /** Parsed (and decrypted, when encrypted) once, by readPrivateKey: used as it is by every connection. */
  privateKey: ParsedKey;
  hostKey: HostKeyPin;
}

export interface SshPoolOptions {
  keepaliveIntervalMs: number;
  keepaliveCountMax: number;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  connectAttempts: number;
  backoffMs: number;
}

export interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

const DEFAULTS: SshPoolOptions = {
  keepaliveIntervalMs: 5000,
  keepaliveCountMax: 3,
  connectTimeoutMs: 10_000,
  commandTimeoutMs: 60_000,
  connectAttempts: 4,
  backoffMs: 250,
};

/**
 * One multiplexed SSH connection per host, opened on first use, kept alive, and re-opened with
 * exponential backoff after it drops. Commands and stream-local forwards are channels on it.
 * A host key that is not the pinned one is refused with HostKeyMismatchError and never retried.
 */
export class SshPool {
  private readonly options: SshPoolOptions;
  private readonly connections = new Map<string, Promise<Client>>();
  private closed = false;

  constructor(
    private readonly targets: ReadonlyMap<string, SshTarget>,
    options: Partial<SshPoolOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /**
   * Builds a pool from the `ssh:` config section, at start-up: reads and checks every private key
   * (see private-key.ts) and, given the fleet's hosts, refuses a host ssh cannot reach.
   */
  static fromConfig(config: SshConfig, fleetHosts: readonly string[] = []): SshPool {
    const reachable = new Set(config.hosts.map((h) => h.name));
    const missing = fleetHosts.filter((h) => !reachable.has(h));
    if (missing.length > 0)
      throw new ConfigError(
        `ssh.hosts has no entry for the fleet's host${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      );
    const keys = new Map<string, ParsedKey>();
    const readKey = (path: string): ParsedKey => {
      const key = keys.get(path) ?? readPrivateKey(path, config.privateKeyPassphrase);
      keys.set(path, key);
      return key;
    };
    const targets = new Map<string, SshTarget>();
    for (const h of config.hosts)
      targets.set(h.name, {
        address: h.address,
        port: h.port,
        username: h.user ?? config.user,
        privateKey: readKey(h.privateKeyPath ?? config.privateKeyPath),
        hostKey: parseHostKeyPin(h.hostKey),
      });
    return new SshPool(targets, {
      keepaliveIntervalMs: config.keepaliveIntervalS * 1000,
      keepaliveCountMax: config.keepaliveCountMax,
      connectTimeoutMs: config.connectTimeoutS * 1000,
      commandTimeoutMs: config.commandTimeoutS * 1000,
      connectAttempts: config.connectAttempts,
      backoffMs: config.backoffMs,
    });
  }

  /** Hosts this pool can reach. */
  hosts(): string[] {
    return [...this.targets.keys()];
  }

  /** Runs one command line (already built from validated, quoted values) and collects its output. */
  async exec(host: string, command: string, options: { timeoutMs?: number } = {}): Promise<ExecResult> {
    const timeoutMs = options.timeoutMs ?? this.options.commandTimeoutMs;
    const channel = await this.channel(host, (client, cb) => client.exec(command, cb));
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        channel.close();
        reject(
          new TimeoutError(`command on ${host} did not finish in ${timeoutMs} ms: ${command.slice(0, 80)}`),
        );
      }, timeoutMs);
      channel.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      channel.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      channel.on('close', (code: number | null, signal?: string) => {
        clearTimeout(timer);
        resolve({ code: code ?? null, signal, stdout, stderr });
      });
    });
  }

  /** Opens a byte stream to a unix socket on the host (OpenSSH stream-local forwarding). */
  async openStreamLocal(host: string, socketPath: string): Promise<Duplex> {
    return this.channel(host, (client, cb) => client.openssh_forwardOutStreamLocal(socketPath, cb));
  }

  /** Drops the host's connection (the next call reconnects). */
  disconnect(host: string): void {
    const conn = this.connections.get(host);
    this.connections.delete(host);
    conn?.then((c) => c.end()).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const host of [...this.connections.keys()]) this.disconnect(host);
  }

  /** Opens a channel, reconnecting once if the cached connection turns out to be dead. */
  private async channel(
    host: string,
    open: (client: Client, cb: (err: Error | undefined, channel: ClientChannel) => void) => void,
  ): Promise<ClientChannel> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.connection(host);
      try {
        return await new Promise<ClientChannel>((resolve, reject) =>
          open(client, (err, ch) => (err ? reject(err) : resolve(ch))),
        );
      } catch (err) {
        const message = (err as Error).message ?? '';
        // A channel refused by a live server (no such socket, command refused) is final.
        if (attempt > 0 || !/not connected|no response|closed|ECONNRESET/i.test(message)) {
          throw err instanceof Error && /open failed|administratively|connect failed/i.test(message)
            ? new NotFoundError(`${host}: ${message}`)
            : new DriverUnreachableError(`${host}: ${message}`, { cause: err });
        }
        this.disconnect(host);
      }
    }
  }

  private connection(host: string): Promise<Client> {
    if (this.closed) return Promise.reject(new DriverUnreachableError('the SSH pool is closed'));
    const existing = this.connections.get(host);
    if (existing) return existing;
    const target = this.targets.get(host);
    if (!target) return Promise.reject(new NotFoundError(`no SSH settings for host "${host}"`));
    const pending = this.connectWithBackoff(host, target);
    this.connections.set(host, pending);
    pending.catch(() => {
      if (this.connections.get(host) === pending) this.connections.delete(host);
    });
    return pending;
  }

  private async connectWithBackoff(host: string, target: SshTarget): Promise<Client> {
    let last: FerryError | undefined;
    for (let attempt = 0; attempt < this.options.connectAttempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, this.options.backoffMs * 2 ** (attempt - 1)));
      try {
        const client = await this.connectOnce(host, target);
        // A connection that drops is forgotten, so the next call opens a fresh one.
        const live = this.connections.get(host);
        const forget = () => {
          if (this.connections.get(host) === live) this.connections.delete(host);
        };
        client.on('close', forget);
        client.on('error', forget);
        return client;
      } catch (err) {
        last = err as FerryError;
        if (err instanceof HostKeyMismatchError || err instanceof AuthError) throw err;
      }
    }
    throw last ?? new DriverUnreachableError(`cannot reach ${host}`);
  }

  private connectOnce(host: string, target: SshTarget): Promise<Client> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let presented: string | undefined;
      client.on('ready', () => resolve(client));
      client.on('error', (err: Error & { level?: string }) => {
        client.end();
        if (presented !== undefined && presented !== target.hostKey.fingerprint)
          reject(
            new HostKeyMismatchError(
              `${host} (${target.address}:${target.port}) presented host key ${presented}, not the pinned ${target.hostKey.fingerprint}: refusing to connect`,
            ),
          );
        else if (err.level === 'client-authentication')
          reject(
            new AuthError(`${host} refused ferry's SSH key for user ${target.username}`, { cause: err }),
          );
        else if (err.level === 'client-timeout')
          reject(
            new TimeoutError(`${host} (${target.address}:${target.port}) did not complete the SSH handshake`),
          );
        else
          reject(
            new DriverUnreachableError(
              `cannot reach ${host} (${target.address}:${target.port}): ${err.message}`,
              {
                cause: err,
              },
            ),
          );
      });
      // The parsed key itself: ssh2's \`privateKey\` option takes only text and parses (and
      // decrypts) it again on every connect.
      const auth: PublicKeyAuthMethod[] = [
        { type: 'publickey', username: target.username, key: target.privateKey },
      ];
      client.connect({
        host: target.address,
        port: target.port,
        username: target.username,
        authHandler: auth,
        readyTimeout: this.options.connectTimeoutMs,
        keepaliveInterval: this.options.keepaliveIntervalMs,
        keepaliveCountMax: this.options.keepaliveCountMax,
        hostVerifier: (key: Buffer) => {
          presented = fingerprintOf(key);
          return matchesPin(target.hostKey, key);
        },
      });
    });
  }
}
