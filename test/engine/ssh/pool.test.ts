import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HostKeyMismatchError, TimeoutError } from '../../../src/engine/errors.js';
import { parseHostKeyPin } from '../../../src/engine/ssh/host-key.js';
import { SshPool, type SshTarget } from '../../../src/engine/ssh/pool.js';
import { readPrivateKey } from '../../../src/engine/ssh/private-key.js';
import { shellCommand } from '../../../src/engine/ssh/quote.js';
import { type Sshd, startSshd } from '../../support/sshd.js';

describe('SshPool against a real sshd', () => {
  let sshd: Sshd;
  let pool: SshPool;
  let dir: string;
  let echo: Server;
  const target = (pin: string): SshTarget => ({
    address: '127.0.0.1',
    port: sshd.port,
    username: 'root',
    privateKey: readPrivateKey(sshd.userKeyPath),
    hostKey: parseHostKeyPin(pin),
  });

  beforeAll(async () => {
    sshd = await startSshd();
    pool = new SshPool(new Map([['hv1', target(sshd.hostKeyFingerprint)]]), { backoffMs: 50 });
    dir = mkdtempSync(join(tmpdir(), 'ferry-ssh-test-'));
    echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(join(dir, 'echo.sock'), r));
  });
  afterAll(async () => {
    await pool.close();
    echo.close();
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command and returns its output and exit code', async () => {
    const r = await pool.exec('hv1', 'echo hello; echo oops >&2; exit 3');
    expect(r).toMatchObject({ code: 3, stdout: 'hello\n', stderr: 'oops\n' });
  });

  it('passes hostile strings through the shell as plain data once quoted', async () => {
    const hostile = `it's $(echo pwned) \`id\` ; rm -rf /nonexistent "x"`;
    const r = await pool.exec('hv1', shellCommand(['printf', '%s', hostile]));
    expect(r.stdout).toBe(hostile);
  });

  it('accepts the pin as a known_hosts line too', async () => {
    const other = new SshPool(new Map([['hv1', target(sshd.knownHostsLine)]]));
    expect((await other.exec('hv1', 'true')).code).toBe(0);
    await other.close();
  });

  it('refuses a server whose host key is not the pinned one, without retrying', async () => {
    const wrong = 'SHA256:' + 'A'.repeat(43);
    const other = new SshPool(new Map([['hv1', target(wrong)]]), { connectAttempts: 3, backoffMs: 2000 });
    const started = Date.now();
    await expect(other.exec('hv1', 'true')).rejects.toBeInstanceOf(HostKeyMismatchError);
    expect(Date.now() - started).toBeLessThan(2000); // refused at once, no backoff
    await other.close();
  });

  it('gives up on a command that runs past its timeout', async () => {
    await expect(pool.exec('hv1', 'sleep 5', { timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('forwards a stream to a unix socket on the host', async () => {
    const stream = await pool.openStreamLocal('hv1', join(dir, 'echo.sock'));
    const reply = new Promise<string>((resolve) => stream.once('data', (d: Buffer) => resolve(d.toString())));
    stream.write('ping');
    expect(await reply).toBe('ping');
    stream.destroy();
  });

  it('reconnects after the connection is cut', async () => {
    expect((await pool.exec('hv1', 'echo before')).stdout).toBe('before\n');
    sshd.cutConnections();
    await new Promise((r) => setTimeout(r, 200));
    expect((await pool.exec('hv1', 'echo after')).stdout).toBe('after\n');
  });

  it('decrypts an encrypted key once, at start, and signs every connection with it', async () => {
    const locked = join(dir, 'locked-key');
    copyFileSync(sshd.userKeyPath, locked);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'open sesame', '-f', locked], {
      stdio: 'ignore',
    });
    const key = readPrivateKey(locked, 'open sesame');
    // Gone from disk, and no passphrase in the target: every connection authenticates with this
    // one decrypted key (its signatures counted), never parsing or decrypting the file again.
    rmSync(locked);
    const sign = vi.spyOn(key, 'sign');
    const other = new SshPool(new Map([['hv1', { ...target(sshd.hostKeyFingerprint), privateKey: key }]]));
    try {
      for (const n of [1, 2, 3]) {
        expect((await other.exec('hv1', `echo ${n}`)).stdout).toBe(`${n}\n`);
        other.disconnect('hv1');
        expect(sign).toHaveBeenCalledTimes(n);
      }
    } finally {
      await other.close();
    }
  });
});
