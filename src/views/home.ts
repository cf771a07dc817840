import type { Campaign, Evacuation, Fleet } from '../engine/model.js';
import { FINAL_CAMPAIGN_STATES, FINAL_EVACUATION_STATES } from '../engine/model.js';
import type { ScheduledWindow } from '../engine/ports.js';
import { type Block, code, context, divider, escapeMrkdwn, header, packLines, section } from './blocks.js';
import { bar, duration, percent, time, who } from './format.js';
import { evacuationFraction } from './progress.js';
import { windowLines } from './replies.js';

/**
 * ferry's App Home: what is running and scheduled (evacuations and campaigns, with their
 * progress), which hosts are disabled and why, the maintenance windows, and the latest
 * post-mortems. `homeBlocks` is exported for a host bot that composes its own Home; `homeView`
 * wraps them as ferry's own Home tab.
 */

/** What the Home shows, read from the engine when someone opens it. */
export interface HomeState {
  evacuations: Evacuation[];
  campaigns: Campaign[];
  /** The fleet, or why it could not be read (the Home shows the rest). */
  fleet: Fleet | { unavailable: string };
  windows: ScheduledWindow[];
  /** When each scheduled evacuation starts, by id. */
  startsAt: Record<string, number>;
}

export interface HomeOptions {
  now: number;
  timezone: string;
  /** How users type ferry's command. */
  command: string;
}

/** Blocks ferry's Home takes at most: a host composing its own Home has room left of Slack's 100. */
export const HOME_BLOCKS = 40;
/** Lines per list: the rest is counted, not shown. */
const MAX_LINES = 20;
/** Post-mortems shown. */
const LATEST_REPORTS = 5;

export function homeBlocks(state: HomeState, options: HomeOptions): Block[] {
  const { timezone, command } = options;
  const open = state.evacuations.filter((e) => !FINAL_EVACUATION_STATES.includes(e.state));
  const campaigns = state.campaigns.filter((c) => !FINAL_CAMPAIGN_STATES.includes(c.state));
  const endOf = (e: Evacuation) => e.endedAt ?? e.startedAt ?? 0;
  const ended = state.evacuations
    .filter((e) => FINAL_EVACUATION_STATES.includes(e.state))
    .sort((a, b) => endOf(b) - endOf(a))
    .slice(0, LATEST_REPORTS);

  const running = [
    ...campaigns.map((c) => campaignLine(c)),
    ...open.map((e) => evacuationLine(e, state.startsAt[e.request.id], timezone)),
  ];
  const disabled =
    'unavailable' in state.fleet
      ? [`⚠️ the fleet cannot be read now: ${escapeMrkdwn(state.fleet.unavailable)}`]
      : state.fleet.hosts
          .filter((h) => !h.schedulable)
          .map(
            (h) =>
              `🔴 ${code(h.name)} — ${h.disabledReason ? escapeMrkdwn(h.disabledReason) : 'no reason given'}`,
          );
  const reports = ended.map(
    (e) =>
      `${OUTCOME_ICON[e.state] ?? '•'} ${code(e.request.id)} ${code(e.request.source)} ${e.state}` +
      (e.endedAt !== undefined ? ` · ended ${time(e.endedAt, timezone)}` : '') +
      (e.startedAt !== undefined && e.endedAt !== undefined
        ? ` · took ${duration(e.endedAt - e.startedAt)}`
        : '') +
      ` · ${code(`${command} report ${e.request.id}`)}`,
  );

  return [
    header('ferry: live migration'),
    context(`Updated ${time(options.now, timezone)} · ${code(`${command} help`)} for every command`),
    ...part('Running and scheduled', running, 'Nothing is running or scheduled.'),
    ...part('Disabled hosts', disabled, 'Every host takes new VMs.'),
    ...part(
      'Maintenance windows',
      windowLines(state.windows, options.now, timezone),
      'No maintenance windows are configured.',
    ),
    ...part('Latest post-mortems', reports, 'No evacuation has ended yet.'),
  ].slice(0, HOME_BLOCKS);
}

const OUTCOME_ICON: Partial<Record<Evacuation['state'], string>> = {
  completed: '✅',
  partial: '🟡',
  failed: '❌',
  aborted: '↩️',
  cancelled: '🚫',
};

/** A titled list within its share of the Home's blocks; `empty` when there is nothing. */
function part(title: string, lines: string[], empty: string): Block[] {
  if (lines.length === 0) return [divider(), section(`*${title}*\n${empty}`)];
  const packed = packLines(lines.slice(0, MAX_LINES), 3, 2800 * 3);
  const omitted = lines.length - Math.min(lines.length, MAX_LINES) + packed.omitted;
  return [
    divider(),
    section(`*${title}* (${lines.length})`),
    ...packed.blocks,
    ...(omitted > 0 ? [context(`… and ${omitted} more`)] : []),
  ];
}

function evacuationLine(e: Evacuation, startsAt: number | undefined, timezone: string): string {
  const { id, source, requestedBy } = e.request;
  const head = `${code(id)} ${code(source)}`;
  if (e.state === 'scheduled' || e.state === 'planned') {
    const when = startsAt !== undefined ? ` starts ${time(startsAt, timezone)}` : '';
    const window = e.request.window?.name ? ` (window ${code(e.request.window.name)})` : '';
    return `🗓️ ${head} scheduled${when}${window} · by ${who(requestedBy)}`;
  }
  const fraction = evacuationFraction(e);
  const moving = e.migrations.filter((m) => m.state !== 'pending' && m.state !== 'completed').length;
  const done = e.migrations.filter((m) => m.state === 'completed').length;
  return (
    `${e.state === 'paused' ? '⏸️' : '🔄'} ${head} ${e.state} ${code(bar(fraction, 10))} ${percent(fraction)}` +
    ` · ${done}/${e.migrations.length} VMs moved, ${moving} moving · by ${who(requestedBy)}`
  );
}

function campaignLine(c: Campaign): string {
  const hosts = c.steps.flatMap((s) => s.hosts);
  const done = hosts.filter((h) => h.outcome !== undefined).length;
  const now = c.steps[c.current]?.hosts.map((h) => code(h.host)).join(', ') ?? '';
  return `🧭 campaign ${code(c.id)} ${c.state} · step ${c.current + 1} of ${c.steps.length}${now ? ` (${now})` : ''} · ${done}/${hosts.length} hosts done · by ${who(c.requestedBy)}`;
}

/** ferry's own Home tab. */
export function homeView(blocks: Block[]): { type: 'home'; blocks: Block[] } {
  return { type: 'home', blocks };
}
