import type { Move, Plan } from '../engine/model.js';
import { RISKY_STRATEGIES } from '../engine/model.js';
import type { PlanRefusal, Schedule } from '../engine/ports.js';
import { ACTION, type ConfirmPayload, encodePayload } from './actions.js';
import {
  actions,
  type Block,
  button,
  code,
  confirmDialog,
  context,
  escapeMrkdwn,
  header,
  LIMITS,
  type Message,
  message,
  packLines,
  section,
  textLength,
} from './blocks.js';
import { bytes, clockTime, duration, rate, time, who } from './format.js';
import { DEFAULT_COMMAND } from './usage.js';

/** The plan preview: what draining a host would do, before anything moves. */

/** Characters kept for the buttons, the closing line and the "hosts not shown" note. */
const RESERVED_CHARS = 400;
/** Characters kept for each "… and N more lines" note. */
const NOTE_CHARS = 40;

/** An issued plan as the preview shows it: its ticket (the buttons' value) and what it asks. */
export interface PlanConfirm {
  ticket: ConfirmPayload;
  requestedBy: string;
  when: Schedule;
  reason?: string;
  expiresAt: number;
}

export interface PlanViewOptions {
  timezone: string;
  /** Present for `evacuate` and `campaign`: the issued plan; its requester gets Confirm / Cancel. */
  confirm?: PlanConfirm;
  /** The command as users type it (`/ferry`, or `/ops ferry` in a host bot). */
  command?: string;
}

/** One line per move: where it goes, what the model expects, and whether it needs a human. */
export function moveLine(move: Move, askedEarly = false): string {
  const p = move.prediction;
  const risky = RISKY_STRATEGIES.includes(p.strategy);
  const mark = !p.converges ? '⛔' : risky ? '⚠️' : '•';
  const facts = [
    `${p.strategy}${p.passes > 0 ? `, ${p.passes} passes` : ''}`,
    `~${duration(p.durationMs)}`,
    `downtime ~${duration(p.downtimeMs)} (SLO ${duration(move.downtimeSloMs)})`,
  ];
  if ((move.channels ?? 1) > 1) facts.push(`${move.channels} multifd channels`);
  if (move.outsideWindow) facts.push('outside the window');
  const needs = askedEarly ? ' — *put to approvers when you confirm*' : risky ? ' — *needs approval*' : '';
  const note = p.note ? `\n      _${escapeMrkdwn(p.note)}_` : '';
  return `${mark} ${code(move.instance)} ${bytes(move.memoryBytes)}, dirties ${rate(move.dirtyBytesPerS)} → ${code(move.to)}: ${facts.join(', ')}${needs}${note}`;
}

function summary(plan: Plan, timezone: string): string {
  const risky = plan.moves.filter((m) => RISKY_STRATEGIES.includes(m.prediction.strategy)).length;
  const parts = [
    `*${plan.moves.length}* moves`,
    `*${plan.blockers.length}* blocked`,
    `predicted *${duration(plan.predictedMakespanMs)}* (no schedule beats ${duration(plan.lowerBoundMs)})`,
  ];
  if (risky > 0) parts.push(`*${risky}* may need approval`);
  if (plan.askEarly) parts.push(`*${plan.askEarly.length}* asked of approvers at confirm, in one batch`);
  const window = plan.window
    ? `\nWindow${plan.window.name ? ` *${escapeMrkdwn(plan.window.name)}*` : ''}: ${time(plan.window.start, timezone)} – ${time(plan.window.end, timezone)}`
    : '';
  return parts.join(' · ') + window;
}

/** `now`, `at 2026-11-24 02:00 Europe/London`, `in 2h 00m`, `in window nightly`. */
export function scheduleText(when: Schedule, timezone: string): string {
  switch (when.kind) {
    case 'now':
      return 'now';
    case 'at':
      return `at ${time(when.at, timezone)}`;
    case 'in':
      return `in ${duration(when.ms)}`;
    case 'window':
      return `in window ${escapeMrkdwn(when.name)}`;
  }
}

/** The preview of one or more hosts' plans, with Confirm / Cancel when something would start. */
export function planPreview(plans: Plan[], options: PlanViewOptions): Message {
  const blocks: Block[] = [];
  const single = plans.length === 1;
  const title = single
    ? `Plan: drain ${plans[0]!.source}`
    : `Campaign plan: ${plans.length} hosts, one after another`;
  blocks.push(header(title));
  const confirm = options.confirm;
  if (confirm) {
    const reason = confirm.reason ? ` — “${escapeMrkdwn(confirm.reason)}”` : '';
    blocks.push(
      context(
        `Requested by ${who(confirm.requestedBy)}, to start ${scheduleText(confirm.when, options.timezone)}${reason} · confirm by ${clockTime(confirm.expiresAt, options.timezone)}`,
      ),
    );
  }
  // Room for the confirm buttons, the overflow notes and the closing line.
  const reserve = (confirm ? 2 : 0) + 1;
  let shown = 0;
  plans.forEach((plan, i) => {
    const room = LIMITS.blocksPerMessage - blocks.length - reserve;
    if (room < 3) return;
    const head = section(
      `${single ? '' : `*${escapeMrkdwn(plan.source)}*\n`}${summary(plan, options.timezone)}`,
    );
    // The text left is shared by the plans still to show, so a 12-host campaign shows every host.
    const chars = (LIMITS.messageText - textLength([...blocks, head]) - RESERVED_CHARS) / (plans.length - i);
    if (chars < 0) return;
    blocks.push(head);
    shown++;
    const lines = [
      ...plan.moves.map((m) => moveLine(m, plan.askEarly?.includes(m.instance))),
      ...plan.blockers.map((b) => `⛔ ${code(b.instance)} stays: ${b.code} — ${escapeMrkdwn(b.reason)}`),
    ];
    const detailRoom = single ? room - 2 : Math.min(2, room - 3);
    const packed = packLines(lines, detailRoom, chars - NOTE_CHARS);
    blocks.push(...packed.blocks);
    if (packed.omitted > 0) blocks.push(context(`… and ${packed.omitted} more lines`));
  });
  if (shown < plans.length) blocks.push(context('Some hosts are not shown: too many for one message'));
  if (confirm) {
    blocks.push(
      actions(
        'ferry.plan',
        button(
          'Confirm',
          ACTION.confirm,
          encodePayload(confirm.ticket),
          'primary',
          confirmDialog(
            'Start this plan?',
            `The hosts are disabled and drained ${scheduleText(confirm.when, options.timezone)}${plans.some((p) => p.askEarly) ? '; the moves marked are put to approvers now' : ''}.`,
            'Confirm',
            'Back',
            'primary',
          ),
        ),
        button('Cancel', ACTION.cancel, encodePayload(confirm.ticket)),
      ),
    );
  } else if (single) {
    blocks.push(
      context(`To start: ${code(`${options.command ?? DEFAULT_COMMAND} evacuate ${plans[0]!.source}`)}`),
    );
  }
  const moves = plans.reduce((n, p) => n + p.moves.length, 0);
  const blockers = plans.reduce((n, p) => n + p.blockers.length, 0);
  return message(
    `${escapeMrkdwn(title)}: ${moves} moves, ${blockers} blocked`,
    blocks.slice(0, LIMITS.blocksPerMessage),
  );
}

/** What the preview turns into once its requester pressed Confirm or Cancel. */
export function planDecided(title: string, outcome: string): Message {
  return message(`${escapeMrkdwn(title)}: ${outcome}`, [section(`*${escapeMrkdwn(title)}*\n${outcome}`)]);
}

/** Why a Confirm or Cancel did nothing, in the words of the person who clicked. */
export function planRefusedText(refusal: PlanRefusal, verb: 'confirm' | 'cancel', timezone: string): string {
  switch (refusal.why) {
    case 'unknown':
    case 'nonce':
      return 'ferry did not issue this plan to anyone; nothing was done';
    case 'user':
      return `only ${who(refusal.issuedTo)}, who asked for this plan, may ${verb} it; nothing was done`;
    case 'expired':
      return `this plan expired at ${clockTime(refusal.expiresAt, timezone)}; nothing was done. Ask for a fresh one`;
    case 'used':
      return `this plan was already ${refusal.use} by ${who(refusal.by)} at ${clockTime(refusal.at, timezone)}; nothing more was done`;
  }
}
