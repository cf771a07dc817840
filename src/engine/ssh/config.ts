import { z } from 'zod';
import { NAME_PATTERN } from '../model.js';
import { parseHostKeyPin } from './host-key.js';

const name = z.string().regex(NAME_PATTERN, 'a name of letters, digits, ".", "_" or "-" (at most 63)');

/** How ferry reaches one hypervisor host over SSH. */
export const sshHostSchema = z.strictObject({
  /** The fleet's host name this entry is for. */
  name,
  /** Address or DNS name sshd listens on. */
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
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
  keepaliveIntervalS: z.number().positive().default(5),
  /** Missed keepalives before the connection counts as dead. */
  keepaliveCountMax: z.number().int().positive().default(3),
  connectTimeoutS: z.number().positive().default(10),
  /** Default limit for one remote command. */
  commandTimeoutS: z.number().positive().default(60),
  /** Connection attempts before a host counts as unreachable; the wait doubles each time. */
  connectAttempts: z.number().int().positive().default(4),
  backoffMs: z.number().int().positive().default(250),
  hosts: z.array(sshHostSchema).min(1),
});

export type SshConfig = z.infer<typeof sshConfigSchema>;
export type SshHostConfig = z.infer<typeof sshHostSchema>;
