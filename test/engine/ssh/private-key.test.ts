import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/engine/clock.js';
import { createDriver, parseConfig } from '../../../src/engine/compose.js';
import { ConfigError } from '../../../src/engine/errors.js';
import { readPrivateKey } from '../../../src/engine/ssh/private-key.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh ed25519 key from OpenSSH's own ssh-keygen (mode 600), optionally with a passphrase. */
function keygen(name: string, passphrase = ''): string {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', path], { stdio: 'ignore' });
  return path;
}

function refusal(path: string): string {
  try {
    readPrivateKey(path);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).userMessage;
  }
  throw new Error(`expected ${path} to be refused`);
}

describe('SSH private keys, checked at start-up', () => {
  it('accepts a private key only its owner can read', () => {
    const path = keygen('good');
    const key = readPrivateKey(path);
    expect(key.isPrivateKey()).toBe(true);
    expect(key.getPublicSSH().toString('base64')).toBe(readFileSync(`${path}.pub`, 'utf8').split(' ')[1]);
  });

  it('refuses a key group or others can read, as OpenSSH does', () => {
    const path = keygen('open');
    chmodSync(path, 0o644);
    expect(refusal(path)).toBe(
      `SSH private key ${path} is accessible by group or others (mode 644); OpenSSH refuses such a key: chmod 600 ${path}`,
    );
    chmodSync(path, 0o640);
    expect(refusal(path)).toContain('mode 640');
  });

  it('refuses garbage, a public key, an encrypted key and a missing file', () => {
    const garbage = join(dir, 'garbage');
    writeFileSync(
      garbage,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n',
      {
        mode: 0o600,
      },
    );
    expect(refusal(garbage)).toContain(`SSH private key ${garbage} cannot be used`);
    const pub = `${keygen('pub')}.pub`;
    chmodSync(pub, 0o600);
    expect(refusal(pub)).toContain('holds a public key');
    const locked = keygen('locked', 'secret passphrase');
    expect(refusal(locked)).toMatch(/cannot be used: .*(encrypted|passphrase)/i);
    expect(() => readPrivateKey(locked, 'wrong')).toThrow('the passphrase does not open it');
    expect(readPrivateKey(locked, 'secret passphrase').isPrivateKey()).toBe(true);
    expect(refusal(join(dir, 'nope'))).toContain('ENOENT');
  });

  it('refuses, for qemu and libvirt, a bad key and a fleet host ssh cannot reach before anything runs', () => {
    const key = keygen('fleet');
    const pin = `SHA256:${'x'.repeat(43)}`;
    const config = (driver: string, keyPath: string, sshHosts: string[]) =>
      parseConfig(
        [
          `fleet:`,
          `  driver: ${driver}`,
          '  hosts:',
          '    - { name: hv1, vcpus: 8, memoryGiB: 32, nicGbps: 10 }',
          '    - { name: hv2, vcpus: 8, memoryGiB: 32, nicGbps: 10 }',
          'ssh:',
          `  privateKeyPath: ${keyPath}`,
          `  hosts: [${sshHosts.map((h) => `{ name: ${h}, address: 127.0.0.1, hostKey: "${pin}" }`).join(', ')}]`,
          'qemu:',
          '  incomingCommand: start-incoming {instance}',
        ].join('\n'),
        'ferry.yaml',
      );
    const open = keygen('fleet-open');
    chmodSync(open, 0o604);
    for (const driver of ['qemu', 'libvirt']) {
      expect(() => createDriver(config(driver, key, ['hv1', 'hv2']), systemClock)).not.toThrow();
      expect(() => createDriver(config(driver, key, ['hv1']), systemClock)).toThrow(
        "ssh.hosts has no entry for the fleet's host hv2",
      );
      expect(() => createDriver(config(driver, open, ['hv1', 'hv2']), systemClock)).toThrow(
        /accessible by group or others \(mode 604\)/,
      );
    }
  });
});
