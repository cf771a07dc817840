import type { FerryEvent } from '../engine/model.js';
import { ACTION, encodePayload } from './actions.js';
import { decisionLine } from './approval.js';
import {
  actions,
  type Block,
  type Button,
  button,
  code,
  confirmDialog,
  escapeMrkdwn,
  section,
} from './blocks.js';
import { bytes, clockTime, duration, mentions, plural, time, who } from './format.js';
import { DEFAULT_COMMAND } from './usage.js';

/**
 * Thread replies under a progress message: only the events a reader should notice (escalations,
 * failures, aborts, approvals, pauses), one line each. Routine progress stays in the main message.
 */
export function noticeFor(
  event: FerryEvent,
  timezone: string,
  options: { approvers?: readonly string[]; command?: string } = {},
): string | undefined {
  const at = clockTime(event.at, timezone);
  switch (event.type) {
    case 'evacuation.scheduled':
      return `${at} 🗓️ scheduled to start ${time(event.startsAt, timezone)}`;
    case 'plan.revised': {
      const change =
        event.from && event.to
          ? `${code(event.from)} → ${code(event.to)}`
          : event.to
            ? `→ ${code(event.to)}`
            : event.from
              ? `no longer to ${code(event.from)}`
              : 'changed';
      return `${at} 🔁 plan changed at the start: ${code(event.instance)} ${change} — ${escapeMrkdwn(event.why)}`;
    }
    case 'evacuation.started':
      return `${at} ▶️ started`;
    case 'evacuation.paused':
      return `${at} ⏸️ paused by ${who(event.by)}`;
    case 'evacuation.resumed':
      return `${at} ▶️ resumed by ${who(event.by)}`;
    case 'migration.tuned':
      return event.autoConverge
        ? `${at} 🐢 ${code(event.instance)}: auto-converge on — ${escapeMrkdwn(event.why)}`
        : undefined;
    case 'approval.requested':
      if (event.approval.stage === 'early')
        return `${at} 🗓️ ${code(event.approval.instance)} asked early to ${event.approval.kind === 'postcopy' ? 'switch to post-copy' : 'pause'} (predicted downtime ${duration(event.approval.predictedDowntimeMs)} vs SLO ${duration(event.approval.downtimeSloMs)}): pre-approved, it switches over without waiting`;
      return `${at} ✋ ${code(event.approval.instance)} needs approval to ${event.approval.kind === 'postcopy' ? 'switch to post-copy' : 'pause'}: predicted downtime ${duration(event.approval.predictedDowntimeMs)} vs SLO ${duration(event.approval.downtimeSloMs)}`;
    case 'approval.decided':
      return `${at} ${decisionLine(event.decision, event.instance, timezone)}`;
    case 'migration.switchover':
      return `${at} ⚡ ${code(event.instance)} switching over by ${event.kind}`;
    case 'migration.postcopy-stalled': {
      const recover = event.recoverable
        ? ` \`${options.command ?? DEFAULT_COMMAND} recover ${event.migrationId}\` does it from here: it pauses the post-copy and resumes it over a new channel, which moves once the link is back.`
        : '';
      const mention = mentions(options.approvers);
      return `${at} 🚨 ${code(event.instance)}: post-copy has made no progress for ${duration(event.stalledForMs)}, ${bytes(event.remainingBytes)} still on the source. It cannot be aborted: ${escapeMrkdwn(event.recovery)}.${recover}${mention ? ` ${mention}` : ''}`;
    }
    case 'migration.postcopy-recovery':
      return event.ok
        ? `${at} 🛟 ${code(event.instance)}: post-copy recovery started (asked by ${who(event.by)}): the dead channel is closed and a new one opens once the link carries it`
        : `${at} 🛟 ${code(event.instance)}: post-copy recovery asked by ${who(event.by)} could not run: ${escapeMrkdwn(event.cause ?? 'no reason given')}`;
    case 'migration.failed':
      return `${at} ❌ ${code(event.instance)} failed: ${escapeMrkdwn(event.cause)}`;
    case 'migration.aborted':
      return `${at} ↩️ ${code(event.instance)} aborted, stays on its source: ${escapeMrkdwn(event.cause)}`;
    case 'maintenance.finished':
      return event.ok
        ? `${at} 🔧 maintenance done on ${event.host}`
        : `${at} 🔧 maintenance failed on ${event.host}`;
    case 'maintenance.unknown':
      return `${at} ⚠️ maintenance outcome unknown on ${code(event.host)} (${escapeMrkdwn(event.cause)}); the host stays disabled until an operator answers \`maintenance done ${event.evacuationId}\` or \`maintenance retry ${event.evacuationId}\``;
    case 'evacuation.finished':
      return `${at} 🏁 finished: ${event.state}${event.stayed.length > 0 ? `, ${plural(event.stayed.length, 'VM')} stayed` : ''}`;
    default:
      return undefined;
  }
}

/**
 * The blocks of a thread notice: its line, and under a stalled post-copy the driver can recover
 * a Recover button (behind a confirm dialog saying what it does); the clicker's role is checked.
 */
export function noticeBlocks(event: FerryEvent, notice: string): Block[] {
  if (event.type !== 'migration.postcopy-stalled' || !event.recoverable) return [section(notice)];
  const recover = recoverButton(event.migrationId, event.instance, 'Recover');
  return [section(notice), actions(`ferry.recover.${event.migrationId}`.slice(0, 255), recover)];
}

/** Recover for one stalled post-copy, behind a confirm dialog saying what it does. */
export function recoverButton(migrationId: string, instance: string, label: string): Button {
  return button(
    label,
    ACTION.recover,
    encodePayload({ v: 1, migrationId }),
    'primary',
    confirmDialog(
      'Recover this post-copy?',
      `ferry pauses the stalled post-copy of ${code(instance)} and resumes it over a new channel, which moves once the migration link is back. The guest keeps running on the destination; keep the source host up.`,
      'Recover',
    ),
  );
}
