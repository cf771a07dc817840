import { z } from 'zod';
import { bounded, LIMITS } from '../config.js';
import { NAME_PATTERN } from '../model.js';
import { parseHostKeyPin } from './host-key.js';

const name = z.string().regex(NAME_PATTERN, 'a name of letters, digits, ".", "_" or "-" (at most 63)');

/** How ferry reaches one hypervisor host over SSH. */
export const sshHostSchema = z.strictObject({
  /** The fleet's host name this entry is for. */
  name,
  /** Address or DNS name sshd listens on. */
  address: z.string().min(1),
  port: bounded(LIMITS.port).default(22),
  user: name.optional(),
  /** Pinned host key: "SHA256:..." (ssh-keygen -lf) or a known_hosts line. Never trusted on first use. */
  hostKey: z.string().refine((pin) => {
    try {
      parseHostKeyPin(pin);
      return true;
    } catch {
      return false;
    }
  }, 'a "SHA256:<base64>" fingerprint or a known_hosts line'),
  privateKeyPath: z.string().min(1).optional(),
});

/** The `ssh:` config section: shared by the qemu and libvirt drivers. */
export const sshConfigSchema = z.strictObject({
  user: name.default('root'),
  /** Private key for every host unless a host names its own. */
  privateKeyPath: z.string().min(1),
  /**
   * Passphrase of an encrypted private key (every host's); better from FERRY_SSH_KEY_PASSPHRASE
   * or FERRY_SSH_KEY_PASSPHRASE_FILE than here (secrets.ts).
   */
  privateKeyPassphrase: z.string().min(1).optional(),
  keepaliveIntervalS: bounded(LIMITS.intervalS).default(5),
  /** Missed keepalives before the connection counts as dead. */
  keepaliveCountMax: bounded(LIMITS.attempts).default(3),
  connectTimeoutS: bounded(LIMITS.durationS).default(10),
  /** Default limit for one remote command. */
  commandTimeoutS: bounded(LIMITS.durationS).default(60),
  /** Connection attempts before a host counts as unreachable; the wait doubles each time. */
  connectAttempts: bounded(LIMITS.attempts).default(4),
  backoffMs: bounded({ ...LIMITS.delayMs, min: 1 }).default(250),
  hosts: z.array(sshHostSchema).min(1),
});

export type SshConfig = z.infer<typeof sshConfigSchema>;
export type SshHostConfig = z.infer<typeof sshHostSchema>;
