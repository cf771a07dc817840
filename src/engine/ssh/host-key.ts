import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';

/**
 * A pinned host key: either OpenSSH's `SHA256:<base64>` fingerprint or a known_hosts line
 * (`[host]:port ssh-ed25519 AAAA...`). There is no trust on first use: no pin, no connection.
 */
export interface HostKeyPin {
  /** Fingerprint of the expected key, `SHA256:...` without base64 padding. */
  fingerprint: string;
}

/** OpenSSH's SHA256 fingerprint of a raw public key blob. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/;

/** Parses a pin from config; throws ConfigError when it is neither form. */
export function parseHostKeyPin(pin: string): HostKeyPin {
  const text = pin.trim();
  const fp = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(text);
  if (fp) return { fingerprint: `SHA256:${fp[1]}` };
  const fields = text.split(/\s+/);
  const typeAt = fields.findIndex((f) => KEY_TYPE.test(f));
  const blob = typeAt >= 0 ? fields[typeAt + 1] : undefined;
  if (blob && /^[A-Za-z0-9+/]+={0,2}$/.test(blob))
    return { fingerprint: fingerprintOf(Buffer.from(blob, 'base64')) };
  throw new ConfigError(
    'a host key must be pinned as "SHA256:<base64>" (ssh-keygen -lf) or a known_hosts line ("host ssh-ed25519 AAAA...")',
  );
}

/** Whether the key a server presented is the pinned one. */
export function matchesPin(pin: HostKeyPin, key: Buffer): boolean {
  return fingerprintOf(key) === pin.fingerprint;
}
