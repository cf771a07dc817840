import { z } from 'zod';

/** The `libvirt:` config section: how virsh is run on each host (over SSH, see `ssh:`). */
export const libvirtConfigSchema = z.strictObject({
  /** virsh on the hosts. */
  virsh: z.string().min(1).default('virsh'),
  /** Connection URI of the local libvirtd, on each source host. */
  uri: z.string().min(1).default('qemu:///system'),
  /** Where a peer-to-peer migration goes; `{host}` is the destination's name. */
  destinationUri: z.string().min(1).default('qemu+ssh://{host}/system'),
  /** Limit for one virsh call other than `migrate` (which runs in the background). */
  commandTimeoutS: z.number().positive().default(30),
  /** Extra `virsh migrate` flags the operator allows (a fixed list, never free text). */
  migrateFlags: z
    .array(z.enum(['--compressed', '--tls', '--abort-on-error', '--unsafe', '--copy-storage-inc']))
    .default([]),
});

export type LibvirtConfig = z.infer<typeof libvirtConfigSchema>;
