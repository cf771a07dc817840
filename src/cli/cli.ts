import { z } from 'zod';
import { VirtualClock } from '../engine/clock.js';
import { createLocalEngine, type FerryConfig, loadConfig } from '../engine/compose.js';
import { createSimDriver } from '../engine/drivers/sim/index.js';
import { FerryError, InputError, toFerryError } from '../engine/errors.js';
import { type FerryEvent, FINAL_CAMPAIGN_STATES, NAME_PATTERN, type Plan } from '../engine/model.js';
import type { Schedule } from '../engine/ports.js';
import { type PostMortem, postMortem } from '../engine/report.js';
import type { MemoryStore } from '../engine/store/memory/index.js';
import type { InProcessLauncher } from '../engine/store/memory/launcher.js';
import { bytes, duration } from '../views/format.js';
import { noticeFor } from '../views/notices.js';
import { planPreview } from '../views/plan.js';
import { postMortemMessage } from '../views/postmortem.js';
import { messageToText, mrkdwnToText } from '../views/text.js';
import { BREAK_GLASS_USAGE, isBreakGlass, runBreakGlass } from './breakglass.js';
import { check } from './check/index.js';

/**
 * The command line: `ferry plan HOST` and `ferry evacuate HOST` on the simulated fleet of a
 * config file, in virtual time (hours of draining in a second). Human output by default; `--json`
 * prints one document on stdout. Nobody is there to approve: `--approve all|none` (default none,
 * the safe answer) answers every approval request.
 */

export const USAGE = `usage:
  ferry plan HOST --config FILE [--window NAME] [--json]
  ferry evacuate HOST --config FILE [--window NAME] [--approve all|none] [--seed N] [--json]
  ferry campaign HOST... | --label LABEL --config FILE [--parallel N] [--continue-on-partial]
                 [--approve all|none] [--json]
  ferry check --config FILE [--json]     preflight: exit 0 when everything a drain needs is there
against the durable engine (the bot's config and Redis; break-glass when Slack is down):
${BREAK_GLASS_USAGE}`;

const hostName = z.string().regex(NAME_PATTERN, 'a host name such as cmp-042');
const optionsSchema = z.strictObject({
  config: z.string({ error: '--config FILE is required' }).min(1),
  json: z.boolean().default(false),
  approve: z.enum(['all', 'none'], { error: '--approve takes "all" or "none"' }).default('none'),
  window: z.string().min(1).optional(),
  seed: z.coerce.number({ error: '--seed takes a whole number' }).int().nonnegative().default(1),
  label: z.string().min(1).optional(),
  parallel: z.coerce.number({ error: '--parallel takes a whole number' }).int().positive().default(1),
  'continue-on-partial': z.boolean().default(false),
  as: z.string().min(1).optional(),
  redis: z
    .string()
    .regex(/^rediss?:\/\//, '--redis takes a redis:// URL')
    .optional(),
  export: z.string().min(1).optional(),
  all: z.boolean().default(false),
  help: z.boolean().default(false),
});
export type CliOptions = z.input<typeof optionsSchema>;

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Runs one CLI command; returns the process exit code (2: bad input, 1: the run did not succeed). */
export async function runCli(positionals: string[], raw: CliOptions, io: Io): Promise<number> {
  try {
    const [command, ...hosts] = positionals;
    if (raw.help || !command) {
      io.out(USAGE);
      return raw.help ? 0 : 2;
    }
    const parsed = optionsSchema.safeParse(raw);
    if (!parsed.success) throw new InputError(parsed.error.issues.map((i) => i.message).join('; '));
    const options = parsed.data;
    if (isBreakGlass(command))
      return await runBreakGlass(
        command,
        hosts,
        { ...options, config: loadConfig(options.config), source: options.config },
        io.out,
      );
    for (const host of hosts) {
      const ok = hostName.safeParse(host);
      if (!ok.success) throw new InputError(`"${host}" is not ${ok.error.issues[0]!.message}`);
    }
    const config = loadConfig(options.config);
    switch (command) {
      case 'plan':
        return await plan(config, single(hosts), options, io);
      case 'evacuate':
        return await evacuate(config, single(hosts), options, io);
      case 'campaign':
        return await campaign(config, campaignHosts(config, hosts, options.label), options, io);
      case 'check':
        if (hosts.length > 0) throw new InputError('check takes no HOST: it checks every host of the config');
        return await check(config, { json: options.json, source: options.config, env: process.env }, io);
      default:
        throw new InputError(`unknown command "${command}"`);
    }
  } catch (err) {
    const error = toFerryError(err);
    io.err(`ferry: ${error.userMessage}`);
    if (error.code === 'INPUT_INVALID') io.err(USAGE);
    if (!(err instanceof FerryError)) io.err(String((err as Error).stack));
    return error.code === 'INPUT_INVALID' || error.code === 'CONFIG_INVALID' || error.code === 'NOT_FOUND'
      ? 2
      : 1;
  }
}

function single(hosts: string[]): string {
  if (hosts.length !== 1) throw new InputError(`expected exactly one HOST, got ${hosts.length}`);
  return hosts[0]!;
}

function campaignHosts(config: FerryConfig, hosts: string[], label?: string): string[] {
  if (label) {
    const matching = config.fleet.hosts.filter((h) => h.labels.includes(label)).map((h) => h.name);
    if (matching.length === 0) throw new InputError(`no host has the label "${label}"`);
    return matching;
  }
  if (hosts.length === 0) throw new InputError('name the hosts to maintain, or --label LABEL');
  return hosts;
}

/** The simulated fleet and the in-memory engine, on one virtual clock starting now. */
function engine(config: FerryConfig, options: z.output<typeof optionsSchema>) {
  const clock = new VirtualClock(Date.now());
  const driver = createSimDriver(config, clock, { seed: options.seed });
  const answer = { outcome: options.approve === 'all' ? 'approved' : 'rejected', by: 'cli' } as const;
  return { clock, ...createLocalEngine({ config, driver, clock, answer }) };
}

async function plan(
  config: FerryConfig,
  host: string,
  options: z.output<typeof optionsSchema>,
  io: Io,
): Promise<number> {
  const { service } = engine(config, options);
  const result = await service.plan(host, { window: options.window });
  if (options.json) io.out(JSON.stringify(planJson(result), null, 2));
  else io.out(messageToText(planPreview([result], { timezone: config.timezone })));
  return 0;
}

async function evacuate(
  config: FerryConfig,
  host: string,
  options: z.output<typeof optionsSchema>,
  io: Io,
): Promise<number> {
  const { clock, service, store, launcher } = engine(config, options);
  // The same path as a Confirm click: the plan is issued, then exactly that plan runs.
  const issued = await service.preview({
    hosts: [host],
    requestedBy: 'cli',
    maintenance: config.maintenance.command !== undefined,
    when: when(options),
  });
  const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, 'cli');
  const printing = options.json ? Promise.resolve() : follow(id, store, launcher, clock, config.timezone, io);
  await launcher.finished(id);
  await printing;
  const report = postMortem(await store.events(id), await service.audit(id));
  if (options.json) io.out(JSON.stringify(reportJson(report), null, 2));
  else io.out(`\n${messageToText(postMortemMessage(report, { timezone: config.timezone }))}`);
  return succeeded([report]) ? 0 : 1;
}

/**
 * A rolling campaign through the engine's campaign API (planCampaign's order; the engine starts
 * each step when the one before ended, and stops on a bad one unless --continue-on-partial).
 */
async function campaign(
  config: FerryConfig,
  hosts: string[],
  options: z.output<typeof optionsSchema>,
  io: Io,
): Promise<number> {
  const { clock, service, store, launcher } = engine(config, options);
  const issued = await service.preview({
    hosts,
    campaign: { parallel: options.parallel, continueOnPartial: options['continue-on-partial'] },
    requestedBy: 'cli',
    // A campaign maintains each host and gives it back, so later hosts' VMs can land on it.
    maintenance: true,
    when: when(options),
  });
  const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, 'cli');
  let record = await service.campaignStatus(id);
  const printing = new Map<string, Promise<void>>();
  for (;;) {
    for (const step of record.steps)
      for (const { evacuationId } of step.hosts)
        if (
          evacuationId &&
          !options.json &&
          !printing.has(evacuationId) &&
          (await store.loadEvacuation(evacuationId))
        )
          printing.set(evacuationId, follow(evacuationId, store, launcher, clock, config.timezone, io));
    if (FINAL_CAMPAIGN_STATES.includes(record.state)) break;
    await clock.sleep(1_000);
    record = await service.campaignStatus(record.id);
  }
  await Promise.all(printing.values());
  const reports: PostMortem[] = [];
  for (const { evacuationId } of record.steps.flatMap((s) => s.hosts))
    if (evacuationId && (await store.loadEvacuation(evacuationId)))
      reports.push(postMortem(await store.events(evacuationId)));
  const summary = { id: record.id, state: record.state, stoppedBecause: record.stoppedBecause };
  if (options.json)
    io.out(
      JSON.stringify(
        {
          campaign: summary,
          migrationsPerVm: migrationsPerVm(reports),
          evacuations: reports.map(reportJson),
        },
        null,
        2,
      ),
    );
  else {
    for (const report of reports)
      io.out(`\n${messageToText(postMortemMessage(report, { timezone: config.timezone }))}`);
    io.out(`\nmigrations per VM moved: ${migrationsPerVm(reports).toFixed(3)}`);
    io.out(
      `campaign ${record.id}: ${record.state}${record.stoppedBecause ? ` (${record.stoppedBecause})` : ''}`,
    );
  }
  return record.state === 'completed' && succeeded(reports) ? 0 : 1;
}

function when(options: z.output<typeof optionsSchema>): Schedule {
  return options.window ? { kind: 'window', name: options.window } : { kind: 'now' };
}

/** Blockers were known before anything started; a migration that failed or was aborted was not. */
function succeeded(reports: PostMortem[]): boolean {
  return reports.every((r) => r.migrations.every((m) => m.state === 'completed') && r.outcome !== 'failed');
}

/** Completed migrations per distinct VM moved: 1 when no VM moved twice. */
function migrationsPerVm(reports: PostMortem[]): number {
  const moves = reports.flatMap((r) =>
    r.migrations.filter((m) => m.state === 'completed').map((m) => m.instance),
  );
  return moves.length === 0 ? 0 : moves.length / new Set(moves).size;
}

/** Live progress lines while the evacuation runs (in virtual time, so they come quickly). */
async function follow(
  id: string,
  store: MemoryStore,
  launcher: InProcessLauncher,
  clock: VirtualClock,
  timezone: string,
  io: Io,
): Promise<void> {
  let seen = 0;
  let done = false;
  void launcher.finished(id).finally(() => {
    done = true;
  });
  for (;;) {
    const events = await store.events(id, seen);
    seen += events.length;
    for (const event of events) {
      const line = progressLine(event, timezone);
      if (line) io.out(line);
    }
    if (done && events.length === 0) return;
    await clock.sleep(5_000);
  }
}

function progressLine(event: FerryEvent, timezone: string): string | undefined {
  if (event.type === 'migration.started')
    return `  → ${event.instance}: ${event.from} → ${event.to} (${event.prediction.strategy}, ~${duration(event.prediction.durationMs)})`;
  if (event.type === 'migration.completed')
    return `  ✓ ${event.instance}: done in ${duration(event.durationMs)}, downtime ${duration(event.downtimeMs)}, ${bytes(event.bytesSent)} sent, ${event.passes} passes (${event.strategy})`;
  const notice = noticeFor(event, timezone);
  return notice && mrkdwnToText(notice);
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : Math.round(ms) / 1000);

function planJson(p: Plan) {
  return {
    source: p.source,
    lowerBoundS: seconds(p.lowerBoundMs),
    predictedMakespanS: seconds(p.predictedMakespanMs),
    blockers: p.blockers,
    moves: p.moves.map((m) => ({
      instance: m.instance,
      from: m.from,
      to: m.to,
      memoryBytes: m.memoryBytes,
      strategy: m.prediction.strategy,
      converges: m.prediction.converges,
      predictedDurationS: seconds(m.prediction.durationMs),
      predictedDowntimeMs: Math.round(m.prediction.downtimeMs),
      channels: m.channels ?? 1,
      ...(m.channelsWhy !== undefined && { channelsWhy: m.channelsWhy }),
      note: m.prediction.note,
    })),
  };
}

function reportJson(r: PostMortem) {
  return {
    id: r.evacuationId,
    source: r.source,
    outcome: r.outcome,
    makespanS: seconds(r.durationMs),
    lowerBoundS: seconds(r.lowerBoundMs),
    predictedMakespanS: seconds(r.predictedMakespanMs),
    blockers: r.blockers.map((b) => ({ instance: b.instance, reason: b.reason, code: b.code })),
    migrations: r.migrations.map((m) => ({
      instance: m.instance,
      from: m.from,
      to: m.to,
      state: m.state,
      strategy: m.strategy,
      durationS: seconds(m.durationMs),
      downtimeMs: m.downtimeMs === undefined ? null : Math.round(m.downtimeMs),
      bytesSent: m.bytesSent,
      passes: m.passes,
      cause: m.cause,
    })),
    approvals: r.approvals,
    recommendations: r.recommendations,
  };
}
