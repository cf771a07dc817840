import { readFileSync, statSync } from 'node:fs';
// ssh2 is CommonJS and Node's ESM loader does not see `utils` among its named exports.
import ssh2, { type ParsedKey } from 'ssh2';
import { ConfigError } from '../errors.js';
import { SECRETS, whereToSet } from '../secrets.js';

/**
 * Reads a private key at start-up and refuses it as OpenSSH does: a key file that group or
 * others may read is refused ("UNPROTECTED PRIVATE KEY FILE"), and a file that is not a private
 * key ssh2 can use (an encrypted one with its `passphrase`) is refused now, not at the first
 * connection mid-evacuation. The key comes back parsed, and decrypted once: every connection
 * signs with it as it is, rather than running the passphrase's key derivation (bcrypt rounds for
 * an OpenSSH key) again each time a host is reached.
 */
export function readPrivateKey(path: string, passphrase?: string): ParsedKey {
  let key: Buffer;
  let mode: number;
  try {
    mode = statSync(path).mode;
    key = readFileSync(path);
  } catch (err) {
    throw new ConfigError(
      `cannot read SSH private key ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: err },
    );
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      `SSH private key ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); OpenSSH refuses such a key: chmod 600 ${path}`,
    );
  const parsed = ssh2.utils.parseKey(key, passphrase);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    const reason = first instanceof Error ? first.message : 'no key in the file';
    const hint = /encrypted|passphrase|bad decrypt/i.test(reason)
      ? passphrase === undefined
        ? `it is encrypted: set ${whereToSet(SECRETS.sshKeyPassphrase)}`
        : 'the passphrase does not open it'
      : 'an OpenSSH or PEM private key is expected';
    throw new ConfigError(`SSH private key ${path} cannot be used: ${reason} (${hint})`);
  }
  if (!first.isPrivateKey())
    throw new ConfigError(`SSH private key ${path} holds a public key; the private key is expected`);
  return first;
}
