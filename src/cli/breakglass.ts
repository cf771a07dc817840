import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { z } from 'zod';
import { slackConfigSchema } from '../commands/config.js';
import { systemClock } from '../engine/clock.js';
import { createDurableEngine, type DurableEngine, type FerryConfig } from '../engine/compose.js';
import { parseSection } from '../engine/config.js';
import { ConfigError, ForbiddenError, InputError, NotFoundError, toFerryError } from '../engine/errors.js';
import { evacuationIdOf, FINAL_EVACUATION_STATES } from '../engine/model.js';
import type { AuditEntry, ControlCommand, MaintenanceAnswer } from '../engine/ports.js';
import { postMortem } from '../engine/report.js';
import { redisConfigSchema } from '../engine/store/redis/index.js';
import { campaignMessage } from '../views/campaign.js';
import { postMortemMessage } from '../views/postmortem.js';
import { progressMessage } from '../views/progress.js';
import { evacuationListMessage } from '../views/replies.js';
import { messageToText } from '../views/text.js';

/**
 * The break-glass commands: the durable engine the bot runs on (the same config and Redis),
 * driven from a terminal when Slack is down. Reading (`status`, `report`) needs no identity;
 * acting (`pause`, `resume`, `abort`, `recover`, `maintenance done|retry`) and `audit` need an operator: the OS user's entry in
 * `breakGlass.users`, or `--as USER_ID` when that id is listed in `slack.operators`. Every action
 * is audited with that identity and the OS user. A risky switchover is never approved here unless
 * `breakGlass.approvers` names the approver (`ferry approve ID --as APPROVER`): the person at the
 * terminal and the approver are then both recorded, and must be two people.
 */

export const BREAK_GLASS_COMMANDS = [
  'status',
  'pause',
  'resume',
  'abort',
  'recover',
  'report',
  'audit',
  'approve',
  'maintenance',
] as const;
export type BreakGlassCommand = (typeof BREAK_GLASS_COMMANDS)[number];

export function isBreakGlass(command: string): command is BreakGlassCommand {
  return (BREAK_GLASS_COMMANDS as readonly string[]).includes(command);
}

/** Evacuation, migration, campaign and approval ids (`evac-cmp-042-20261124T0200:db-07:approval-1`). */
const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/, 'an id such as evac-cmp-042-20261124T0200');

export const BREAK_GLASS_USAGE = `  ferry status [ID] [--all] --config FILE [--redis URL] [--json]
  ferry pause|resume|abort ID --config FILE [--as USER_ID]
  ferry recover MIGRATION_ID --config FILE [--as USER_ID]   (a stalled post-copy, by its worker)
  ferry report ID --config FILE [--json]
  ferry audit [ID] --config FILE [--as USER_ID] [--export FILE.jsonl] [--json]
  ferry maintenance done|retry ID --config FILE [--as USER_ID]
  ferry approve APPROVAL_ID --as APPROVER_ID --config FILE   (only with breakGlass.approvers)`;

const userId = z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'a Slack user id (U… or W…)');

/** The config's `breakGlass:` section: who is who at a terminal. */
export const breakGlassSchema = z.strictObject({
  /** OS user name → the Slack user id the audit records for them. */
  users: z.record(z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'an OS user name'), userId).default({}),
  /** May approve a risky switchover from the command line (break-glass); nobody by default. */
  approvers: z.array(userId).default([]),
});

export interface BreakGlassOptions {
  config: FerryConfig;
  /** Where the config came from, for error messages. */
  source: string;
  as?: string;
  redis?: string;
  json: boolean;
  all: boolean;
  export?: string;
  /** The OS user running the command (default: this process's, or SUDO_USER under sudo). */
  osUser?: string;
}

/** Runs one break-glass command against the durable engine; returns the exit code (errors are thrown). */
export async function runBreakGlass(
  command: BreakGlassCommand,
  ids: string[],
  options: BreakGlassOptions,
  out: (text: string) => void,
): Promise<number> {
  // `maintenance done|retry ID`: the answer comes first.
  const answer = command === 'maintenance' ? maintenanceAnswer(ids.shift()) : undefined;
  if (ids.length > 1) throw new InputError(`${command} takes at most one ID, got ${ids.length}`);
  const id = ids[0];
  if (id !== undefined && !idSchema.safeParse(id).success)
    throw new InputError(`"${id}" is not an id such as evac-cmp-042-20261124T0200`);
  const needsId = command !== 'status' && command !== 'audit';
  if (needsId && !id) throw new InputError(`${command} needs an ID (ferry status lists them)`);
  const people = identities(options);
  const engine = await open(options, people.via(command === 'approve' ? people.mapped : undefined));
  try {
    switch (command) {
      case 'status':
        return await status(engine, id, options, out);
      case 'report':
        return await report(engine, id!, options, out);
      case 'audit': {
        const who = await allowed(engine, command, id ?? 'audit', people.reader, people.claimed);
        return await audit(engine, id, who, options, out);
      }
      case 'approve': {
        const approver = await allowed(engine, command, id!, people.approver, people.claimed);
        const decision = await engine.service.decide(id!, 'approved', approver);
        if (decision.decidedBy !== approver || decision.outcome !== 'approved')
          throw new ForbiddenError(
            decision.outcome === 'expired'
              ? `${id} had expired; the VM stayed on its source`
              : `${id} was already ${decision.outcome} by ${decision.decidedBy}`,
          );
        out(`${id} approved by ${approver} (entered by ${people.mapped} as OS user ${people.osUser})`);
        return 0;
      }
      case 'recover': {
        // This process drives no host: the request goes to the worker that runs the migration.
        const who = await allowed(engine, command, id!, people.operator, people.claimed);
        await engine.service.recoverPostcopy(id!, who);
        out(
          `post-copy of ${id} recovering (${who}): the worker that runs it pauses it and resumes it over a new channel at its next step; ferry status ${evacuationIdOf(id!)} shows it move`,
        );
        return 0;
      }
      case 'maintenance': {
        const who = await allowed(engine, `maintenance ${answer}`, id!, people.operator, people.claimed);
        await engine.service.maintenance(id!, answer!, who);
        out(`maintenance of ${id} ${answer === 'done' ? 'marked done' : 'will run again'} (${who})`);
        return 0;
      }
      default: {
        const who = await allowed(engine, command, id!, people.operator, people.claimed);
        await engine.service.control(id!, command satisfies ControlCommand, who);
        out(`${id} ${{ pause: 'paused', resume: 'resumed', abort: 'aborting' }[command]} by ${who}`);
        return 0;
      }
    }
  } finally {
    await engine.close();
  }
}

function maintenanceAnswer(word: string | undefined): MaintenanceAnswer {
  if (word === 'done' || word === 'retry') return word;
  throw new InputError('maintenance takes done or retry, then the ID: ferry maintenance done ID');
}

/** Who is at the terminal, and who they may act as. */
function identities(options: BreakGlassOptions) {
  const glass = parseSection(breakGlassSchema, options.config.breakGlass ?? {}, options.source, 'breakGlass');
  const slack = parseSection(
    slackConfigSchema.partial(),
    options.config.slack ?? {},
    options.source,
    'slack',
  );
  const operators = slack.operators ?? [];
  const osUser = options.osUser ?? currentOsUser();
  const mapped = glass.users[osUser];
  const unmapped = () =>
    new ForbiddenError(
      `OS user "${osUser}" has no identity: add it to breakGlass.users (${osUser}: U…) or pass --as USER_ID`,
    );
  /** The person at the terminal: `--as` (an operator) or the OS user's mapping. */
  const person = (): string => {
    if (options.as !== undefined) {
      const ok = userId.safeParse(options.as);
      if (!ok.success) throw new InputError(`--as takes ${ok.error.issues[0]!.message}`);
      return options.as;
    }
    if (!mapped) throw unmapped();
    return mapped;
  };
  const operator = (): string => {
    const who = person();
    // Groups (S…) cannot be expanded without Slack: only operators listed by user id act here.
    if (!operators.includes(who))
      throw new ForbiddenError(
        `${who} is not listed by user id in slack.operators; only operators act from the command line`,
      );
    return who;
  };
  return {
    osUser,
    mapped,
    operator,
    /** Operators and approvers read the audit, as in Slack. */
    reader: (): string => {
      const who = person();
      if (!operators.includes(who) && !(slack.approvers ?? []).includes(who))
        throw new ForbiddenError(`${who} is not listed by user id in slack.operators or slack.approvers`);
      return who;
    },
    /** The approver named with --as, allowed by breakGlass.approvers, another person than the operator. */
    approver: (): string => {
      if (glass.approvers.length === 0)
        throw new ForbiddenError(
          'approvals are given in Slack by a second person; breakGlass.approvers lists who may approve from the command line, and it is empty',
        );
      if (options.as === undefined) throw new InputError('approve needs --as APPROVER_ID, the approver');
      const approver = person();
      // The person at the terminal is the OS user's mapping (--as names the approver), an operator.
      if (!mapped) throw unmapped();
      if (!operators.includes(mapped))
        throw new ForbiddenError(`${mapped} (OS user ${osUser}) is not listed by user id in slack.operators`);
      if (approver === mapped)
        throw new ForbiddenError(
          `${approver} is the person at this terminal (OS user ${osUser}); a second person must approve`,
        );
      if (!glass.approvers.includes(approver))
        throw new ForbiddenError(`${approver} is not in breakGlass.approvers`);
      return approver;
    },
    /** The audit's `via`: the command line, the OS user, and who typed an approval in for someone. */
    via: (enteredBy?: string): string =>
      `cli:${osUser}${enteredBy ? ` (break-glass, entered by ${enteredBy})` : ''}`,
    /** For refusals: whoever the command claimed to be, else the OS user. */
    claimed: (): string => options.as ?? mapped ?? `os:${osUser}`,
  };
}

/** The OS user: under sudo, the one who ran sudo. */
function currentOsUser(): string {
  const { username, uid } = userInfo();
  return uid === 0 && process.env.SUDO_USER ? process.env.SUDO_USER : username;
}

/** `who()`, or the refusal audited (whoever `claimed()` names, what, and why) and thrown. */
async function allowed(
  engine: DurableEngine,
  action: string,
  target: string,
  who: () => string,
  claimed: () => string,
): Promise<string> {
  try {
    return who();
  } catch (err) {
    const error = toFerryError(err);
    if (error.code === 'FORBIDDEN')
      await engine.service.recordRefusal({ who: claimed(), action, target, why: error.userMessage });
    throw err;
  }
}

/**
 * The durable engine over the config's Redis (or `--redis`), its keyspace checked first. It builds
 * no driver: the workers drive hosts; what it needs of the fleet, it reads as they publish it.
 */
async function open(options: BreakGlassOptions, via: string): Promise<DurableEngine> {
  const { config } = options;
  const url = options.redis ?? process.env.REDIS_URL;
  const redis = redisConfigSchema.parse({ ...config.redis, ...(url ? { url } : {}) });
  const engine = createDurableEngine({ config: { ...config, redis }, clock: systemClock, via });
  try {
    await withDeadline(engine.redis.ping(), 5_000, `cannot reach Redis at ${redis.url}`);
    await engine.prepare();
  } catch (err) {
    await engine.close();
    throw err;
  }
  return engine;
}

/** `promise`, or a ConfigError saying `what` after `ms` (the client waits for Redis for ever). */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConfigError(`${what} within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function status(
  engine: DurableEngine,
  id: string | undefined,
  options: BreakGlassOptions,
  out: (text: string) => void,
): Promise<number> {
  const { timezone } = options.config;
  if (id && (await engine.campaigns.load(id))) {
    const campaign = await engine.service.campaignStatus(id);
    out(
      options.json ? JSON.stringify(campaign, null, 2) : messageToText(campaignMessage(campaign, timezone)),
    );
    return 0;
  }
  if (id) {
    const evacuation = await engine.service.status(id);
    out(
      options.json
        ? JSON.stringify(evacuation, null, 2)
        : messageToText(progressMessage(evacuation, { now: Date.now(), timezone })),
    );
    return 0;
  }
  const evacuations = await engine.service.list({ all: options.all });
  out(
    options.json
      ? JSON.stringify(evacuations, null, 2)
      : messageToText(evacuationListMessage(evacuations, timezone)),
  );
  return 0;
}

async function report(
  engine: DurableEngine,
  id: string,
  options: BreakGlassOptions,
  out: (text: string) => void,
): Promise<number> {
  const evacuation = await engine.service.status(id);
  const pm = postMortem(await engine.service.events(id), await engine.service.audit(id));
  if (options.json) out(JSON.stringify(pm, null, 2));
  else {
    if (!FINAL_EVACUATION_STATES.includes(evacuation.state))
      out(`${id} is still ${evacuation.state}; this is its report so far`);
    out(messageToText(postMortemMessage(pm, { timezone: options.config.timezone })));
  }
  return 0;
}

async function audit(
  engine: DurableEngine,
  id: string | undefined,
  who: string,
  options: BreakGlassOptions,
  out: (text: string) => void,
): Promise<number> {
  const entries = await engine.service.audit(id);
  if (id && entries.length === 0) throw new NotFoundError(`nothing in the audit concerns ${id}`);
  if (options.export) {
    // JSON lines, one entry each, in the order written: what `jq`, log shippers and archives take.
    writeFileSync(options.export, entries.map((e) => `${JSON.stringify(e)}\n`).join(''), { mode: 0o600 });
    out(`${entries.length} audit entries written to ${options.export} (exported by ${who})`);
  } else if (options.json) out(JSON.stringify(entries, null, 2));
  else out(entries.length === 0 ? 'the audit is empty' : entries.map(auditLine).join('\n'));
  return 0;
}

/** One entry on one line: when, who, what, on what, and what came of it. */
function auditLine(entry: AuditEntry): string {
  const outcome = entry.refused !== undefined ? `REFUSED: ${entry.refused}` : (entry.detail ?? 'done');
  return `${new Date(entry.at).toISOString()}  ${entry.who}  ${entry.action} ${entry.target}  ${outcome}  (${entry.via})`;
}
