import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { type Fleet, GBPS, GiB, type Host, type Instance, MiB, NAME_PATTERN } from './model.js';

/**
 * One YAML file configures ferry. This module owns its core (fleet, policy, windows,
 * maintenance); the sections of drivers and stores are declared in their own folders and joined
 * in compose.ts. Every policy field is optional; the defaults below come from the anchors in
 * DESIGN.md (Nova, KubeVirt, oVirt) and are documented here, in one place.
 */

const name = z.string().regex(NAME_PATTERN, 'a name of letters, digits, ".", "_" or "-" (at most 63)');

export const hostSchema = z.strictObject({
  name,
  vcpus: z.number().int().positive(),
  memoryGiB: z.number().positive(),
  nicGbps: z.number().positive(),
  cpuModel: z.string().min(1).optional(),
  az: z.string().min(1).optional(),
  labels: z.array(z.string().min(1)).default([]),
  /** Disabled for scheduling from the start (e.g. already broken). */
  disabled: z.boolean().default(false),
});

export const instanceSchema = z
  .strictObject({
    name,
    host: name,
    vcpus: z.number().int().positive(),
    memoryGiB: z.number().positive(),
    antiAffinityGroup: z.string().min(1).optional(),
    migratable: z.boolean().default(true),
    reason: z.string().min(1).optional(),
    /** Page-dirtying rate for the simulator (a real driver measures it). */
    dirtyMiBps: z.number().nonnegative().default(10),
    downtimeSloMs: z.number().int().positive().optional(),
  })
  .refine((i) => i.migratable || i.reason !== undefined, {
    message: 'an instance with migratable: false needs a reason',
    path: ['reason'],
  });

export const policySchema = z.strictObject({
  /** Downtime the guest may see at switchover; the ramp ends here. Nova's ramp also ends at 500 ms. */
  downtimeSloMs: z.number().int().positive().default(500),
  /** Downtime-limit ramp: start value and number of steps up to the SLO (Nova: 50 ms, 10 steps). */
  downtimeRampStartMs: z.number().int().positive().default(50),
  downtimeRampSteps: z.number().int().positive().default(10),
  /** Seconds between two ramp steps while a migration has not converged. */
  downtimeRampStepS: z.number().positive().default(5),
  /** Completion timeout per GiB of guest memory before escalating (KubeVirt: 150 s/GiB). */
  completionTimeoutSPerGiB: z.number().positive().default(150),
  /** A migration whose remaining bytes reach no new low for this long is stalled (KubeVirt: 150 s). */
  stallTimeoutS: z.number().positive().default(150),
  /** Ceiling on migrations leaving one host at once; below it ferry admits by bandwidth (Nova 1, KubeVirt/oVirt 2). */
  maxPerSource: z.number().int().positive().default(4),
  /** Ceiling on migrations arriving at one host at once. */
  maxPerDestination: z.number().int().positive().default(4),
  /** Ceiling on migrations running in the whole fleet (KubeVirt: 5 per cluster). */
  maxGlobal: z.number().int().positive().default(20),
  /** One migration stream's throughput cap (QEMU's migration thread, encryption), Gb/s. */
  streamCapGbps: z.number().positive().default(8),
  /** A migration is admitted only if its bandwidth share exceeds its dirty rate by this factor. */
  convergenceMargin: z.number().min(1).default(1.25),
  /**
   * How pending migrations are started: 'bandwidth' (ferry: only while every stream keeps a share
   * above its dirty rate × convergenceMargin, within the max* ceilings) or 'fixed' (the anchors:
   * FIFO up to the max* ceilings, bandwidth ignored).
   */
  admission: z.enum(['bandwidth', 'fixed']).default('bandwidth'),
  /** Auto-converge (CPU throttling) may be enabled without asking: the guest slows but keeps running. */
  allowAutoConverge: z.boolean().default(true),
  /** Post-copy may be proposed to an approver (never done without one). */
  allowPostCopy: z.boolean().default(true),
  /** Pausing the guest to force completion may be proposed to an approver. */
  allowPause: z.boolean().default(true),
  /** An unanswered approval expires into the safe action (abort) after this long. */
  approvalTimeoutS: z.number().positive().default(900),
  /** How often running migrations are sampled. */
  sampleIntervalS: z.number().positive().default(1),
  /**
   * A migration the back end no longer knows (its QEMU died, its host rebooted) is reconciled
   * against where the VM is after this many consecutive "no such migration" answers, or
   * `lostMigrationS` seconds after the first, whichever comes first: one answer may be a
   * hand-over moment, and a migration is never sampled for ever.
   */
  lostMigrationAnswers: z.number().int().positive().default(5),
  lostMigrationS: z.number().positive().default(60),
});

const clockTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time as HH:MM (24-hour)');

export const windowSchema = z.strictObject({
  name,
  /** IANA zone, e.g. Europe/London. */
  timezone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/London'),
  days: z
    .array(z.enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']))
    .min(1)
    .default(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday']),
  start: clockTime,
  end: clockTime,
});

export const maintenanceSchema = z.strictObject({
  /** Command run on a drained host (qemu/libvirt drivers, over SSH). Never taken from chat. */
  command: z.string().min(1).optional(),
  timeoutS: z.number().positive().default(1800),
  /** Re-enable the host after maintenance succeeds. */
  reenable: z.boolean().default(true),
});

export const fleetSchema = z.strictObject({
  /** A driver's folder name under drivers/; compose.ts narrows it to the drivers that exist. */
  driver: z.string().default('sim'),
  hosts: z.array(hostSchema).default([]),
  instances: z.array(instanceSchema).default([]),
});

/** The core sections; compose.ts adds the drivers' and the store's. */
export const coreConfigShape = {
  /** The operator's IANA zone for `at TIME` and reports. */
  timezone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/London').default('UTC'),
  fleet: fleetSchema,
  policy: policySchema.default(policySchema.parse({})),
  windows: z.array(windowSchema).default([]),
  maintenance: maintenanceSchema.default(maintenanceSchema.parse({})),
  /** The Slack surface's section: validated by it (src/commands/config.ts), opaque to the engine. */
  slack: z.record(z.string(), z.unknown()).optional(),
};

export type CoreConfig = z.output<z.ZodObject<typeof coreConfigShape>>;

/** Rules across fields of the core sections: unique names, known hosts, a ramp within the SLO. */
export function checkCoreConfig(config: CoreConfig, ctx: z.RefinementCtx): void {
  const hosts = new Set<string>();
  config.fleet.hosts.forEach((h, i) => {
    if (hosts.has(h.name))
      ctx.addIssue({
        code: 'custom',
        path: ['fleet', 'hosts', i, 'name'],
        message: `duplicate host "${h.name}"`,
      });
    hosts.add(h.name);
  });
  const instances = new Set<string>();
  config.fleet.instances.forEach((inst, i) => {
    if (instances.has(inst.name))
      ctx.addIssue({
        code: 'custom',
        path: ['fleet', 'instances', i, 'name'],
        message: `duplicate instance "${inst.name}"`,
      });
    instances.add(inst.name);
    if (config.fleet.driver === 'sim' && !hosts.has(inst.host))
      ctx.addIssue({
        code: 'custom',
        path: ['fleet', 'instances', i, 'host'],
        message: `unknown host "${inst.host}"`,
      });
  });
  if (config.policy.downtimeRampStartMs > config.policy.downtimeSloMs)
    ctx.addIssue({
      code: 'custom',
      path: ['policy', 'downtimeRampStartMs'],
      message: `must not exceed policy.downtimeSloMs (${config.policy.downtimeSloMs})`,
    });
}

export type PolicyConfig = z.infer<typeof policySchema>;
export type WindowConfig = z.infer<typeof windowSchema>;

/** The policy with every default applied. */
export const defaultPolicy: PolicyConfig = policySchema.parse({});

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** `fleet.instances[3].memoryGiB` from zod's path. */
function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/** Turns zod issues into one message naming the file, each path and what was expected. */
export function describeIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.slice(0, 10).map((issue) => {
    const where = issue.path.length > 0 ? formatPath(issue.path) : '(top level)';
    return `  ${where}: ${issue.message}`;
  });
  if (issues.length > 10) lines.push(`  ... and ${issues.length - 10} more`);
  return `${source} is not a valid ferry config:\n${lines.join('\n')}`;
}

/** Validates one section another layer owns (e.g. `slack:`), with errors naming the file and path. */
export function parseSection<S extends z.ZodType>(
  schema: S,
  value: unknown,
  source: string,
  section: string,
): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new ConfigError(
      describeIssues(
        source,
        result.error.issues.map((issue) => ({ ...issue, path: [section, ...issue.path] })),
      ),
    );
  return result.data;
}

/** Parses YAML config text and validates it with `schema`; `source` names the file in error messages. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(`${source} is not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const result = schema.safeParse(doc.toJS() ?? {});
  if (!result.success) throw new ConfigError(describeIssues(source, result.error.issues));
  return result.data;
}

/** Reads a config file's text. */
export function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      {
        cause: err,
      },
    );
  }
}

/** The fleet as the engine sees it: bytes and bytes per second. */
export function fleetFromConfig(config: Pick<CoreConfig, 'fleet'>): Fleet {
  const hosts: Host[] = config.fleet.hosts.map((h) => ({
    name: h.name,
    vcpus: h.vcpus,
    memoryBytes: h.memoryGiB * GiB,
    nicBytesPerS: h.nicGbps * GBPS,
    cpuModel: h.cpuModel,
    az: h.az,
    labels: h.labels,
    schedulable: !h.disabled,
    disabledReason: h.disabled ? 'disabled in config' : undefined,
  }));
  const instances: Instance[] = config.fleet.instances.map((i) => ({
    name: i.name,
    host: i.host,
    vcpus: i.vcpus,
    memoryBytes: i.memoryGiB * GiB,
    antiAffinityGroup: i.antiAffinityGroup,
    migratable: i.migratable,
    notMigratableReason: i.migratable ? undefined : i.reason,
    dirtyBytesPerS: i.dirtyMiBps * MiB,
    downtimeSloMs: i.downtimeSloMs,
  }));
  return { hosts, instances };
}
