import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/engine/errors.js';
import { fingerprintOf, matchesPin, parseHostKeyPin } from '../../../src/engine/ssh/host-key.js';

// A real ed25519 public key blob (from ssh-keygen) and its OpenSSH fingerprint.
const blob = 'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C7okWi0dh2l9GKJl';
const key = Buffer.from(blob, 'base64');

describe('host key pins', () => {
  it('computes the same SHA256 fingerprint as ssh-keygen -lf', () => {
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('accepts a fingerprint or a known_hosts line for the same key', () => {
    const fp = fingerprintOf(key);
    expect(parseHostKeyPin(fp).fingerprint).toBe(fp);
    expect(parseHostKeyPin(`[127.0.0.1]:2222 ssh-ed25519 ${blob}`).fingerprint).toBe(fp);
    expect(parseHostKeyPin(`ssh-ed25519 ${blob} comment`).fingerprint).toBe(fp);
    expect(matchesPin(parseHostKeyPin(fp), key)).toBe(true);
  });

  it('does not match another key', () => {
    const other = Buffer.from(key);
    other.writeUInt8(other.readUInt8(other.length - 1) ^ 1, other.length - 1);
    expect(matchesPin(parseHostKeyPin(fingerprintOf(key)), other)).toBe(false);
  });

  it('refuses a pin that is neither form (there is no trust on first use)', () => {
    for (const bad of ['', 'yes', 'MD5:aa:bb', 'SHA256:short', 'host ssh-ed25519'])
      expect(() => parseHostKeyPin(bad)).toThrow(ConfigError);
  });
});
