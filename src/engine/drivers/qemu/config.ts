import { z } from 'zod';
import { bounded, LIMITS } from '../../config.js';

/** The `qemu:` config section: where each guest's QMP socket is and how a destination is started. */
export const qemuConfigSchema = z.strictObject({
  /** QMP socket of an instance on a host; `{host}` and `{instance}` are filled in. */
  qmpSocket: z.string().min(1).default('/run/ferry/{instance}.qmp'),
  /**
   * Run over SSH on the destination to start the incoming QEMU (`-incoming defer`, QMP on
   * `{qmpSocket}`); it must return once QEMU runs (e.g. `-daemonize`). Placeholders: {instance},
   * {host} (destination), {source}, {qmpSocket}. Values are shell-quoted; the template is trusted.
   */
  incomingCommand: z.string().min(1),
  /** Optional clean-up run on the destination after a cancel or failure (after QMP `quit`). */
  cleanupCommand: z.string().min(1).optional(),
  /** Address each host listens on for migration streams; default: its SSH address. */
  migrationAddresses: z.record(z.string(), z.string().min(1)).default({}),
  /** Seconds the destination's QMP socket may take to appear. */
  incomingTimeoutS: bounded(LIMITS.durationS).default(30),
  /** Limit for one QMP command. */
  qmpTimeoutS: bounded(LIMITS.durationS).default(10),
  /**
   * QEMU cannot turn auto-converge on during a migration. When armed, the capability is set at
   * start with the throttle trigger at 100 % (QEMU throttles by itself only once dirtying
   * outruns the link, when no downtime limit can help), and ferry's "enable auto-converge" lowers
   * the trigger to QEMU's default 50 %. Default: the policy's allowAutoConverge.
   */
  armAutoConverge: z.boolean().optional(),
  /** Auto-converge throttle: first step and increment, percent (QEMU's defaults). */
  cpuThrottleInitial: z.number().int().min(1).max(99).default(20),
  cpuThrottleIncrement: z.number().int().min(1).max(99).default(10),
});

export type QemuConfig = z.infer<typeof qemuConfigSchema>;
