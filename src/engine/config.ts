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

/**
 * The physical limits of every number in the config, with why. Beyond them a value is a typo or
 * an attack: sizes computed from it (bytes, rates, durations) would overflow to Infinity and a
 * planner or simulator loop would never end (`memoryGiB: 1e308` used to hang `plan`). Each bound
 * is above what real hardware has, with headroom. `above` is an exclusive lower bound.
 */
export const LIMITS = {
  vcpus: { min: 1, max: 16_384, int: true, unit: 'vCPUs', why: 'more threads than the largest server has' },
  memoryGiB: { above: 0, max: 65_536, unit: 'GiB', why: '64 TiB, more than the largest server has' },
  diskGiB: { min: 0, max: 1_048_576, unit: 'GiB', why: '1 PiB, more disk than one server migrates' },
  nicGbps: { above: 0, max: 1_600, unit: 'Gb/s', why: 'faster than any NIC sold' },
  dirtyMiBps: { min: 0, max: 1_048_576, unit: 'MiB/s', why: '1 TiB/s, more than a memory bus carries' },
  downtimeMs: { min: 1, max: 2_000_000, int: true, unit: 'ms', why: "QEMU's largest downtime-limit" },
  rampSteps: {
    min: 1,
    max: 1_000,
    int: true,
    unit: 'steps',
    why: 'a ramp longer than that never ends in time',
  },
  durationS: { above: 0, max: 604_800, unit: 's', why: 'a week; nothing ferry waits for takes longer' },
  perGiBS: { above: 0, max: 86_400, unit: 's/GiB', why: 'a day per GiB, far beyond any anchor (Nova: 800)' },
  intervalS: {
    min: 0.01,
    max: 3_600,
    unit: 's',
    why: 'faster than 10 ms busy-loops; slower than an hour sees nothing',
  },
  margin: { min: 1, max: 100, unit: '×', why: 'a margin above 100× admits nothing' },
  concurrency: { min: 1, max: 10_000, int: true, unit: 'at once', why: 'more than any fleet runs at once' },
  attempts: { min: 1, max: 1_000, int: true, unit: 'attempts', why: 'more would retry for days' },
  port: { min: 1, max: 65_535, int: true, unit: '', why: 'a TCP port' },
  delayMs: { min: 0, max: 3_600_000, int: true, unit: 'ms', why: 'an hour' },
  channels: { min: 1, max: 255, int: true, unit: 'channels', why: "QEMU's largest multifd-channels" },
  coresPerChannel: { min: 0, max: 64, unit: 'cores', why: 'more than one sending thread can use' },
} as const satisfies Record<string, Limit>;

export interface Limit {
  min?: number;
  above?: number;
  max: number;
  int?: boolean;
  unit: string;
  why: string;
}

/** A config number within `limit` (finite by zod 4's own rule), the bound and its reason named on refusal. */
export function bounded(limit: Limit): z.ZodNumber {
  const unit = limit.unit ? ` ${limit.unit}` : '';
  let schema = z.number();
  if (limit.int) schema = schema.int('a whole number');
  if (limit.above !== undefined) schema = schema.gt(limit.above, `more than ${limit.above}${unit}`);
  if (limit.min !== undefined) schema = schema.min(limit.min, `at least ${limit.min}${unit}`);
  return schema.max(limit.max, `at most ${limit.max}${unit} (${limit.why})`);
}

/**
 * `limit` counted in a smaller unit, `per` of them to one of its own: a hypervisor's reply that
 * counts memory in MiB or bytes is held to the same physical limit as the config's GiB.
 */
export function inUnits(limit: Limit, per: number, unit: string): Limit {
  return {
    ...limit,
    min: limit.min === undefined ? undefined : limit.min * per,
    above: limit.above === undefined ? undefined : limit.above * per,
    max: limit.max * per,
    unit,
  };
}

/** Why `value` is outside `limit` (what `bounded` says), or undefined when it is within. */
export function outsideLimit(limit: Limit, value: number): string | undefined {
  const result = bounded(limit).safeParse(value);
  return result.success ? undefined : result.error.issues[0]?.message;
}

export const hostSchema = z.strictObject({
  name,
  vcpus: bounded(LIMITS.vcpus),
  memoryGiB: bounded(LIMITS.memoryGiB),
  nicGbps: bounded(LIMITS.nicGbps),
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
    vcpus: bounded(LIMITS.vcpus),
    memoryGiB: bounded(LIMITS.memoryGiB),
    antiAffinityGroup: z.string().min(1).optional(),
    migratable: z.boolean().default(true),
    reason: z.string().min(1).optional(),
    /** Page-dirtying rate for the simulator (a real driver measures it). */
    dirtyMiBps: bounded(LIMITS.dirtyMiBps).default(10),
    downtimeSloMs: bounded(LIMITS.downtimeMs).optional(),
  })
  .refine((i) => i.migratable || i.reason !== undefined, {
    message: 'an instance with migratable: false needs a reason',
    path: ['reason'],
  });

export const policySchema = z.strictObject({
  /** Downtime the guest may see at switchover; the ramp ends here. Nova's ramp also ends at 500 ms. */
  downtimeSloMs: bounded(LIMITS.downtimeMs).default(500),
  /** Downtime-limit ramp: start value and number of steps up to the SLO (Nova: 50 ms, 10 steps). */
  downtimeRampStartMs: bounded(LIMITS.downtimeMs).default(50),
  downtimeRampSteps: bounded(LIMITS.rampSteps).default(10),
  /** Seconds between two ramp steps while a migration has not converged. */
  downtimeRampStepS: bounded(LIMITS.durationS).default(5),
  /** Completion timeout per GiB of guest memory before escalating (KubeVirt: 150 s/GiB). */
  completionTimeoutSPerGiB: bounded(LIMITS.perGiBS).default(150),
  /** A migration whose remaining bytes reach no new low for this long is stalled (KubeVirt: 150 s). */
  stallTimeoutS: bounded(LIMITS.durationS).default(150),
  /** Ceiling on migrations leaving one host at once; below it ferry admits by bandwidth (Nova 1, KubeVirt/oVirt 2). */
  maxPerSource: bounded(LIMITS.concurrency).default(4),
  /** Ceiling on migrations arriving at one host at once. */
  maxPerDestination: bounded(LIMITS.concurrency).default(4),
  /** Ceiling on migrations running in the whole fleet (KubeVirt: 5 per cluster). */
  maxGlobal: bounded(LIMITS.concurrency).default(20),
  /** One migration stream's throughput cap (QEMU's migration thread, encryption), Gb/s. */
  streamCapGbps: bounded(LIMITS.nicGbps).default(8),
  /**
   * Multifd: the most channels one migration may use (QEMU `multifd-channels`, libvirt
   * `--parallel-connections`); 1 = one stream, multifd off. The planner gives more than one only
   * to large or fast-dirtying moves whose links have room beyond one stream's cap, never to a
   * move that may need post-copy (QEMU 10 refuses multifd with postcopy-ram).
   */
  multifdChannels: bounded(LIMITS.channels).default(1),
  /** One multifd channel's throughput cap (its sending thread), Gb/s. */
  multifdChannelCapGbps: bounded(LIMITS.nicGbps).default(8),
  /**
   * CPU cores one multifd channel keeps busy on each side (a sending and a receiving thread):
   * a move gets only as many channels as its hosts' cores not given to guests can run.
   */
  multifdChannelCpuCores: bounded(LIMITS.coresPerChannel).default(1),
  /**
   * A move given multifd channels is admitted only while it keeps this share of what its
   * channels carry alone, percent: a multifd move split with three others gains nothing.
   */
  multifdSharePct: bounded({
    min: 0,
    max: 100,
    unit: '%',
    why: 'a share of what the channels carry alone',
  }).default(60),
  /** Moves at least this large may use multifd; smaller ones only when one stream cannot converge them by plain pre-copy. */
  multifdMinMemoryGiB: bounded(LIMITS.memoryGiB).default(16),
  /** A migration is admitted only if its bandwidth share exceeds its dirty rate by this factor. */
  convergenceMargin: bounded(LIMITS.margin).default(1.25),
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
  approvalTimeoutS: bounded(LIMITS.durationS).default(900),
  /**
   * Ask early: moves the planner predicts will need post-copy or pause are put to approvers, in
   * one batch, when the evacuation is confirmed; an approved one switches over at the policy's
   * moment without waiting for a person. Off: each is asked only when it is needed.
   */
  askEarly: z.boolean().default(true),
  /** A pre-approval lasts until its evacuation ends, and never longer than this. */
  preApprovalMaxS: bounded(LIMITS.durationS).default(43_200),
  /**
   * How much worse than the planned facts (dirty rate, predicted downtime) a pre-approval still
   * covers, percent: measured rates jitter; beyond this, ferry asks again with the live facts.
   */
  preApprovalMarginPct: bounded({
    min: 0,
    max: 100,
    unit: '%',
    why: 'at most double the facts approved',
  }).default(10),
  /** How often running migrations are sampled. */
  sampleIntervalS: bounded(LIMITS.intervalS).default(1),
  /**
   * A migration the back end no longer knows (its QEMU died, its host rebooted) is reconciled
   * against where the VM is after this many consecutive "no such migration" answers, or
   * `lostMigrationS` seconds after the first, whichever comes first: one answer may be a
   * hand-over moment, and a migration is never sampled for ever.
   */
  lostMigrationAnswers: bounded(LIMITS.attempts).default(5),
  lostMigrationS: bounded(LIMITS.durationS).default(60),
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
  timeoutS: bounded(LIMITS.durationS).default(1800),
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
  /** Who is who at a terminal for the break-glass CLI (validated by src/cli/breakglass.ts). */
  breakGlass: z.record(z.string(), z.unknown()).optional(),
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
    // Every driver: a configured instance lives on a configured host (nova lists neither).
    if (!hosts.has(inst.host))
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

/** A config file's size limit: a 40,000-VM fleet takes about 4 MB. */
const MAX_CONFIG_CHARS = 16 * 1024 * 1024;
/** Aliases resolved per document (the yaml package's default): enough for shared anchors, not for a bomb. */
const MAX_ALIAS_COUNT = 100;

/** Parses YAML config text and validates it with `schema`; `source` names the file in error messages. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  if (text.length > MAX_CONFIG_CHARS)
    throw new ConfigError(
      `${source} is too large for a ferry config: at most ${MAX_CONFIG_CHARS} characters`,
    );
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new ConfigError(`${source} is not valid YAML: ${first.message.split('\n')[0]}`);
  }
  let value: unknown;
  try {
    // An alias bomb (aliases of aliases) expands exponentially: the yaml package refuses it past
    // maxAliasCount with a ReferenceError, which is the file's fault, not ferry's.
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new ConfigError(`${source} is not a usable YAML document: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const result = schema.safeParse(value ?? {});
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
