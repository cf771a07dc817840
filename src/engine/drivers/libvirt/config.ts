import { z } from 'zod';
import { bounded, LIMITS } from '../../config.js';

/** The `libvirt:` config section: how virsh is run on each host (over SSH, see `ssh:`). */
export const libvirtConfigSchema = z.strictObject({
  /** virsh on the hosts. */
  virsh: z.string().min(1).default('virsh'),
  /** Connection URI of the local libvirtd, on each source host. */
  uri: z.string().min(1).default('qemu:///system'),
  /**
   * Where a peer-to-peer migration goes. The source's libvirtd opens it from inside the source
   * host's network, so it must name the destination as the source reaches it. `{address}` is the
   * destination's entry in `migrationAddresses`, else its SSH address; `{host}` its fleet name.
   */
  destinationUri: z.string().min(1).default('qemu+ssh://{address}/system'),
  /**
   * Address of each host as the other hosts reach it (a migration network), when it differs
   * from the address ferry's SSH uses (a management network, a bastion, a forwarder).
   */
  migrationAddresses: z.record(z.string(), z.string().min(1)).default({}),
  /**
   * Directory on each source host where the detached `virsh migrate` writes its output and exit
   * status, so that ferry (or a replacement process) learns how a migration ended and why.
   */
  runDir: z.string().min(1).default('/run/ferry'),
  /** Limit for one virsh call other than `migrate` (which runs in the background). */
  commandTimeoutS: bounded(LIMITS.durationS).default(30),
  /** Extra `virsh migrate` flags the operator allows (a fixed list, never free text). */
  migrateFlags: z
    .array(z.enum(['--compressed', '--tls', '--abort-on-error', '--unsafe', '--copy-storage-inc']))
    .default([]),
  /**
   * libvirt turns auto-converge on only when a migration starts. Armed, every migration starts
   * with it and QEMU throttles the guest by itself once it dirties faster than half of what is
   * sent (QEMU's trigger; libvirt does not expose it); ferry's "enable auto-converge" is then
   * already done. Default: the policy's allowAutoConverge.
   */
  armAutoConverge: z.boolean().optional(),
  /** Auto-converge throttle: first step and increment, percent (QEMU's defaults). */
  cpuThrottleInitial: z.number().int().min(1).max(99).default(20),
  cpuThrottleIncrement: z.number().int().min(1).max(99).default(10),
});

export type LibvirtConfig = z.infer<typeof libvirtConfigSchema>;
