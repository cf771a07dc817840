import type { Campaign } from '../engine/model.js';
import { code, context, escapeMrkdwn, type Message, message, packLines, section } from './blocks.js';
import { time } from './format.js';

/**
 * A campaign as text: its state, each step's hosts with their evacuation and outcome, and why
 * it stopped. The engine advances campaigns; this only shows them.
 */
export function campaignMessage(campaign: Campaign, timezone: string): Message {
  const steps = campaign.steps.map((step, i) => {
    const hosts = step.hosts.map((h) => {
      const where = h.evacuationId ? ` ${code(h.evacuationId)}` : '';
      const how = h.outcome ?? (h.evacuationId ? 'running' : 'to do');
      return `${code(h.host)}${where}: ${how}${h.cause ? ` (${escapeMrkdwn(h.cause)})` : ''}`;
    });
    return `${i === campaign.current ? '▶' : '•'} step ${i + 1}: ${hosts.join('; ')}`;
  });
  const head = `*Campaign ${code(campaign.id)}* ${campaign.state}, ${campaign.steps.length} steps, started ${time(campaign.startsAt, timezone)}`;
  const why = campaign.stoppedBecause ? `\n${escapeMrkdwn(campaign.stoppedBecause)}` : '';
  const packed = packLines(steps, 20);
  const more = packed.omitted > 0 ? [context(`… and ${packed.omitted} more steps`)] : [];
  return message(`Campaign ${campaign.id}: ${campaign.state}`, [
    section(`${head}${why}`),
    ...packed.blocks,
    ...more,
  ]);
}

/** The one line posted when a campaign ends. */
export function campaignEndedText(campaign: Campaign): string {
  const done = campaign.steps.flatMap((s) => s.hosts).filter((h) => h.outcome === 'completed').length;
  const total = campaign.steps.reduce((n, s) => n + s.hosts.length, 0);
  const why = campaign.stoppedBecause ? `: ${escapeMrkdwn(campaign.stoppedBecause)}` : '';
  return `Campaign ${code(campaign.id)} ${campaign.state} (${done}/${total} hosts maintained)${why}`;
}
