import { FerryError, ForbiddenError, PlanRefusedError, toFerryError } from '../engine/errors.js';
import type { ApprovalDecision, ApprovalRequest, FerryEvent } from '../engine/model.js';
import { evacuationIdOf, FINAL_EVACUATION_STATES } from '../engine/model.js';
import type { AuditEntry, FerryService } from '../engine/ports.js';
import {
  ACTION,
  type ApprovalAllPayload,
  type ApprovalPayload,
  approvalAllPayloadSchema,
  approvalPayloadSchema,
  type ConfirmPayload,
  confirmPayloadSchema,
  controlPayloadSchema,
  recoverPayloadSchema,
} from '../views/actions.js';
import { auditMessage } from '../views/audit.js';
import { code, type Message } from '../views/blocks.js';
import { campaignMessage } from '../views/campaign.js';
import { time, who, withCommand } from '../views/format.js';
import type { ModalView } from '../views/modal.js';
import { type PlanConfirm, planDecided, planPreview, planRefusedText, scheduleText } from '../views/plan.js';
import { progressMessage } from '../views/progress.js';
import {
  errorMessage,
  evacuationListMessage,
  helpMessage,
  hostsMessage,
  noteMessage,
  usageError,
  windowsMessage,
} from '../views/replies.js';
import { openEvacuateForm } from './evacuate-modal.js';
import { type Command, parseCommand, tokenize } from './grammar.js';
import { COMMAND_ROLE, type Role, type Roles } from './roles.js';

/**
 * What `/ferry` and ferry's buttons do, after Bolt has acknowledged them: parse, authorise, call
 * the engine through FerryService, and answer with a view. Nothing reaches the engine before the
 * input parsed and the user's role was checked.
 */

/** How an answer is shown: to the user alone (default), to the channel, or replacing the clicked message. */
export interface Reply {
  message: Message;
  inChannel?: boolean;
  replaceOriginal?: boolean;
}

export type Respond = (reply: Reply) => Promise<void>;

export interface SurfaceDeps {
  service: FerryService;
  roles: Roles;
  /** The command as users type it: `/ferry`, or `/ops ferry` when a host bot routes to ferry. */
  command: string;
  timezone: string;
  /** Engine time: `at TIME` and `in DURATION` are relative to it. */
  now: () => number;
  /** Run the configured maintenance command after draining. */
  maintenance: boolean;
  /** Starts the live progress message of an evacuation. */
  follow: (evacuationId: string) => Promise<void>;
  /** Shows a campaign's evacuations as the engine starts them, and its end. */
  followCampaign: (campaignId: string) => Promise<void>;
  /** Posts a line in an evacuation's progress thread (nothing when ferry shows no progress for it). */
  tellThread: (evacuationId: string, markdown: string) => Promise<void>;
  /** Opens a modal on a command's trigger (views.open); absent, `evacuate` alone is a usage error. */
  openView?: (triggerId: string, view: ModalView) => Promise<void>;
  /** Shows the decisions on the evacuation's approval message. */
  showDecision: (request: Pick<ApprovalRequest, 'evacuationId'>) => Promise<void>;
  report: (events: FerryEvent[], audit?: AuditEntry[]) => Message;
  progressChannel: string;
  log?: (line: string) => void;
}

/** Runs one `/ferry` command for `user`; every outcome, including errors, becomes a reply. */
export async function runCommand(
  input: { user: string; text: string; triggerId?: string },
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  // `evacuate` alone opens the modal when Slack gave a trigger to open it with.
  const { openView } = deps;
  if (input.triggerId && openView && tokenize(input.text).join(' ').toLowerCase() === 'evacuate')
    return guarded(deps, respond, () =>
      openEvacuateForm({ ...deps, openView }, input.user, input.triggerId!),
    );
  const parsed = parseCommand(input.text, {
    now: deps.now(),
    timezone: deps.timezone,
    command: deps.command,
  });
  if (!parsed.ok) return respond({ message: usageError(parsed.error, parsed.usage) });
  await guarded(deps, respond, async () => {
    const { command } = parsed;
    const role = COMMAND_ROLE[command.name];
    if (role)
      await authorise(
        deps,
        input.user,
        role,
        `run ${deps.command} ${command.name}`,
        command.name,
        subject(command),
      );
    await respond(await execute(command, input.user, deps));
  });
}

/** What a command acts on, for the audit: its id, host(s) or VM. */
function subject(command: Command): string {
  if ('id' in command && command.id) return command.id;
  if ('host' in command) return command.host;
  if ('hosts' in command) return command.hosts.join(',');
  if ('instance' in command) return command.instance;
  return '';
}

/** Requires `role` of `user`; a refusal is recorded in the audit (who, what, why) before it is told. */
export async function authorise(
  deps: SurfaceDeps,
  user: string,
  role: Role | readonly Role[],
  doing: string,
  action: string,
  target: string,
): Promise<void> {
  try {
    await deps.roles.require(user, role, doing);
  } catch (err) {
    await refused(deps, user, action, target, err);
  }
}

/** Records `user`'s refused attempt, then throws the refusal on. */
async function refused(
  deps: SurfaceDeps,
  user: string,
  action: string,
  target: string,
  err: unknown,
): Promise<never> {
  const why = toFerryError(err).userMessage;
  // The refusal stands even when the audit cannot be written; the log says so.
  await deps.service
    .recordRefusal({ who: user, action, target, why })
    .catch((e: unknown) => deps.log?.(`audit of a refusal failed: ${toFerryError(e).message}`));
  throw err;
}

async function execute(command: Command, user: string, deps: SurfaceDeps): Promise<Reply> {
  const { service, timezone, command: typed } = deps;
  switch (command.name) {
    case 'help':
      return { message: helpMessage(command.topic, typed) };
    case 'hosts':
      return { message: hostsMessage(await service.fleet(), command.filter) };
    case 'windows':
      return {
        message: windowsMessage(await service.windows(), { now: deps.now(), timezone, command: typed }),
      };
    case 'plan':
      return {
        message: planPreview([await service.plan(command.host, { window: command.window })], {
          timezone,
          command: typed,
        }),
      };
    case 'evacuate':
    case 'campaign': {
      const issued = await service.preview({
        hosts: command.name === 'evacuate' ? [command.host] : command.hosts,
        ...(command.name === 'campaign' ? { campaign: {} } : {}),
        when: command.when,
        requestedBy: user,
        reason: command.reason,
        maintenance: deps.maintenance,
      });
      const { request } = issued;
      const confirm: PlanConfirm = {
        ticket: { v: 2, planId: issued.id, nonce: issued.nonce },
        requestedBy: request.requestedBy,
        when: request.when,
        reason: request.reason,
        expiresAt: issued.expiresAt,
      };
      return { message: planPreview(issued.plans, { timezone, confirm, command: typed }) };
    }
    case 'migrate': {
      const { id } = await service.migrate({
        instance: command.instance,
        to: command.to,
        requestedBy: user,
        reason: command.reason,
      });
      await deps.follow(id);
      return {
        message: noteMessage(
          `${who(user)} is migrating ${code(command.instance)}${command.to ? ` to ${code(command.to)}` : ''} (${code(id)}); progress follows in <#${deps.progressChannel}>`,
        ),
        inChannel: true,
      };
    }
    case 'status': {
      if (command.id && (await isCampaign(service, command.id)))
        return { message: campaignMessage(await service.campaignStatus(command.id), timezone) };
      if (command.id)
        return { message: progressMessage(await service.status(command.id), { now: deps.now(), timezone }) };
      const open = (await service.list()).filter((e) => !FINAL_EVACUATION_STATES.includes(e.state));
      return { message: evacuationListMessage(open, timezone) };
    }
    case 'pause':
    case 'resume':
    case 'abort': {
      await service.control(command.id, command.name, user);
      const done = { pause: 'paused', resume: 'resumed', abort: 'aborting' }[command.name];
      return { message: noteMessage(`${code(command.id)} ${done} by ${who(user)}`), inChannel: true };
    }
    case 'recover': {
      await service.recoverPostcopy(command.id, user);
      return {
        message: noteMessage(
          `Post-copy of ${code(command.id)} recovering (${who(user)}): the worker that runs it pauses it and resumes it over a new channel, which moves once the link carries it; the thread says when it has run`,
        ),
        inChannel: true,
      };
    }
    case 'maintenance': {
      await service.maintenance(command.id, command.answer, user);
      const what = command.answer === 'done' ? 'marked done' : 'will run again';
      return {
        message: noteMessage(`Maintenance of ${code(command.id)} ${what} (${who(user)})`),
        inChannel: true,
      };
    }
    case 'reschedule': {
      const { startsAt } = await service.reschedule(command.id, command.when, user);
      return {
        message: noteMessage(
          `${code(command.id)} now starts ${time(startsAt, timezone)} (moved by ${who(user)})`,
        ),
        inChannel: true,
      };
    }
    case 'audit':
      return { message: auditMessage(await service.audit(command.id), { timezone, id: command.id }) };
    case 'report': {
      const evacuation = await service.status(command.id);
      if (!FINAL_EVACUATION_STATES.includes(evacuation.state))
        return {
          message: noteMessage(
            `${code(command.id)} is still ${evacuation.state}; its report comes when it ends. Now: ${code(`${typed} status ${command.id}`)}`,
          ),
        };
      return { message: deps.report(await service.events(command.id), await service.audit(command.id)) };
    }
  }
}

/** Whether `id` names a campaign (they share `/ferry status` and pause/resume/abort with evacuations). */
async function isCampaign(service: FerryService, id: string): Promise<boolean> {
  return service.campaignStatus(id).then(
    () => true,
    (err: unknown) => {
      if (toFerryError(err).code === 'NOT_FOUND') return false;
      throw err;
    },
  );
}

/** Runs a button click; forged, replayed or unauthorised clicks change nothing and are told why. */
export async function runAction(
  input: { user: string; actionId: string; value: unknown },
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  await guarded(deps, respond, async () => {
    const parse = <T>(schema: Parameters<typeof parsePayload<T>>[0]) =>
      parsePayload(schema, input.value).catch((err: unknown) =>
        refused(deps, input.user, input.actionId, 'button', err),
      );
    switch (input.actionId) {
      case ACTION.confirm:
      case ACTION.cancel: {
        const payload = await parse(confirmPayloadSchema);
        return input.actionId === ACTION.confirm
          ? confirm(payload, input.user, deps, respond)
          : cancel(payload, input.user, deps, respond);
      }
      case ACTION.approve:
      case ACTION.reject:
      case ACTION.approveAll:
      case ACTION.rejectAll: {
        const id = input.actionId;
        const outcome = id === ACTION.approve || id === ACTION.approveAll ? 'approved' : 'rejected';
        return id === ACTION.approve || id === ACTION.reject
          ? decide(await parse(approvalPayloadSchema), outcome, input.user, deps, respond)
          : decideAll(await parse(approvalAllPayloadSchema), outcome, input.user, deps, respond);
      }
      case ACTION.pause:
      case ACTION.resume:
      case ACTION.abort: {
        const { id } = await parse(controlPayloadSchema);
        const command = CONTROL_OF[input.actionId];
        return control(id, command, input.user, deps, respond);
      }
      case ACTION.recover: {
        const { migrationId } = await parse(recoverPayloadSchema);
        return recover(migrationId, input.user, deps, respond);
      }
      default:
        return refused(
          deps,
          input.user,
          input.actionId.slice(0, 60),
          'button',
          new ForbiddenError('that button is not one of ferry’s; nothing was done'),
        );
    }
  });
}

const CONTROL_OF = {
  [ACTION.pause]: 'pause',
  [ACTION.resume]: 'resume',
  [ACTION.abort]: 'abort',
} as const;

/** What the progress thread says a button decided, and what the clicker is told. */
const CONTROL_WORDS = {
  pause: { thread: '⏸️ %s pressed *Pause*: running migrations finish, no new ones start', done: 'paused' },
  resume: { thread: '▶️ %s pressed *Resume*: the remaining migrations start again', done: 'resumed' },
  abort: {
    thread: '⏹️ %s pressed *Abort*: running migrations are cancelled and their VMs stay on the source',
    done: 'aborted',
  },
} as const;

/** Pause / Resume / Abort from the progress message: the same role and engine checks as the typed commands. */
async function control(
  id: string,
  command: 'pause' | 'resume' | 'abort',
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  await authorise(deps, user, COMMAND_ROLE[command]!, `${command} an evacuation`, command, id);
  // The engine refuses (and audits) what the evacuation's state does not allow.
  await deps.service.control(id, command, user);
  const words = CONTROL_WORDS[command];
  await deps.tellThread(id, words.thread.replace('%s', who(user)));
  await respond({ message: noteMessage(`You ${words.done} ${code(id)}.`) });
}

/** Recover on a stalled post-copy's notice: the same role and engine checks as `/ferry recover`. */
async function recover(
  migrationId: string,
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  await authorise(deps, user, COMMAND_ROLE.recover!, 'recover a post-copy', 'recover', migrationId);
  await deps.service.recoverPostcopy(migrationId, user);
  await deps.tellThread(
    evacuationIdOf(migrationId),
    `🛟 ${who(user)} pressed *Recover* for ${code(migrationId)}: the post-copy is paused and resumed over a new channel by the worker that runs it`,
  );
  await respond({
    message: noteMessage(`You asked to recover ${code(migrationId)}; the thread says when it has run.`),
  });
}

export async function parsePayload<T>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
  value: unknown,
): Promise<T> {
  let json: unknown;
  try {
    json = typeof value === 'string' ? JSON.parse(value) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success)
    throw new ForbiddenError('that button’s data is not what ferry sent; nothing was done');
  return parsed.data;
}

function planTitle(hosts: readonly string[]): string {
  return hosts.length === 1 ? `Plan: drain ${hosts[0]}` : `Campaign: ${hosts.join(', ')}`;
}

/** Runs a Confirm or Cancel in the engine; a ticket it refuses is told in the clicker's words. */
export async function usePlan<T>(
  verb: 'confirm' | 'cancel',
  deps: SurfaceDeps,
  use: () => Promise<T>,
): Promise<T> {
  try {
    return await use();
  } catch (err) {
    if (err instanceof PlanRefusedError)
      throw new ForbiddenError(planRefusedText(err.refusal, verb, deps.timezone));
    throw err;
  }
}

async function confirm(
  payload: ConfirmPayload,
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  await authorise(deps, user, 'operator', 'start an evacuation', 'confirm', payload.planId);
  const ticket = { planId: payload.planId, nonce: payload.nonce };
  const started = await usePlan('confirm', deps, () => deps.service.confirm(ticket, user));
  const { id, plan } = started;
  if (started.kind === 'campaign') await deps.followCampaign(id);
  else await deps.follow(id);
  const when = scheduleText(plan.request.when, deps.timezone);
  await respond({
    message: planDecided(
      planTitle(plan.request.hosts),
      `✅ Confirmed by ${who(user)} at ${time(deps.now(), deps.timezone)}: ${code(id)} starts ${when}. Progress in <#${deps.progressChannel}>.`,
    ),
    replaceOriginal: true,
  });
}

async function cancel(
  payload: ConfirmPayload,
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  // Only an operator can have asked for a plan: anyone else's "cancel" is forged.
  await authorise(deps, user, 'operator', 'cancel a plan', 'cancel plan', payload.planId);
  const ticket = { planId: payload.planId, nonce: payload.nonce };
  const plan = await usePlan('cancel', deps, () => deps.service.discard(ticket, user));
  await respond({
    message: planDecided(planTitle(plan.request.hosts), `Cancelled by ${who(user)}; nothing was started.`),
    replaceOriginal: true,
  });
}

async function decide(
  payload: ApprovalPayload,
  outcome: 'approved' | 'rejected',
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  const target = payload.approvalId;
  const action = outcome === 'approved' ? 'approve' : 'reject';
  await authorise(deps, user, 'approver', 'approve or reject a switchover', action, target);
  const refuse = (why: string) => refused(deps, user, action, target, new ForbiddenError(why));
  const approval = await deps.service.approval(target);
  if (!approval) return refuse('ferry has no such approval request; nothing was done');
  const { request } = approval;
  if (approval.decision) {
    await deps.showDecision(request);
    return refuse(alreadyDecided(approval.decision, deps.timezone));
  }
  if (user === request.requestedBy)
    return refuse('you asked for this evacuation, so another approver must decide; nothing was done');
  // From here the engine records the decision, or its refusal, itself.
  const decision = await deps.service.decide(target, outcome, user);
  await deps.showDecision(request);
  // The engine's first-decision-wins may have kept an earlier one.
  if (decision.decidedBy !== user || decision.outcome !== outcome)
    throw new ForbiddenError(alreadyDecided(decision, deps.timezone));
  await respond({ message: noteMessage(`You ${outcome} ${code(request.instance)}: ${request.kind}.`) });
}

/** Approve all / Reject all: every request of the evacuation still waiting, each recorded and audited by the engine. */
async function decideAll(
  payload: ApprovalAllPayload,
  outcome: 'approved' | 'rejected',
  user: string,
  deps: SurfaceDeps,
  respond: Respond,
): Promise<void> {
  const target = payload.evacuationId;
  const action = outcome === 'approved' ? 'approve all' : 'reject all';
  await authorise(deps, user, 'approver', 'approve or reject switchovers', action, target);
  // The engine refuses (and audits) a requester, or nothing waiting.
  const decided = await deps.service.decideAll(target, outcome, user);
  await deps.showDecision({ evacuationId: target });
  await respond({
    message: noteMessage(
      `You ${outcome} ${decided.length} waiting request${decided.length === 1 ? '' : 's'} of ${code(target)}.`,
    ),
  });
}

function alreadyDecided(decision: ApprovalDecision, timezone: string): string {
  return decision.outcome === 'expired'
    ? `this request expired at ${time(decision.decidedAt, timezone)}; the VM stayed on its source`
    : `already ${decision.outcome} by ${who(decision.decidedBy)} at ${time(decision.decidedAt, timezone)}`;
}

/** Runs `work`, turning every error into a reply: a FerryError's message, or a generic one. */
async function guarded(deps: SurfaceDeps, respond: Respond, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    const error = toFerryError(err);
    if (!(err instanceof FerryError)) deps.log?.(`internal error: ${error.message}`);
    const text =
      error.code === 'INTERNAL'
        ? 'ferry hit an internal error; the bot’s log has the details'
        : withCommand(error.userMessage, deps.command);
    await respond({ message: errorMessage(text) });
  }
}
