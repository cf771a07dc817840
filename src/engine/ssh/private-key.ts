import { readFileSync, statSync } from 'node:fs';
// ssh2 is CommonJS and Node's ESM loader does not see `utils` among its named exports.
import ssh2 from 'ssh2';
import { ConfigError } from '../errors.js';

/**
 * Reads a private key at start-up and refuses it as OpenSSH does: a key file that group or
 * others may read is refused ("UNPROTECTED PRIVATE KEY FILE"), and a file that is not an
 * unencrypted private key ssh2 can use is refused now, not at the first connection mid-evacuation.
 */
export function readPrivateKey(path: string): Buffer {
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
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error)
    throw new ConfigError(
      `SSH private key ${path} cannot be used: ${first instanceof Error ? first.message : 'no key in the file'} (an unencrypted OpenSSH or PEM private key is expected)`,
    );
  if (!first.isPrivateKey())
    throw new ConfigError(`SSH private key ${path} holds a public key; the private key is expected`);
  return key;
}
