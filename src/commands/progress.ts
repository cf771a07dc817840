import type { Log } from '../engine/log.js';
import { type Evacuation, type FerryEvent, FINAL_CAMPAIGN_STATES, isEarlyApproval } from '../engine/model.js';
import type { AuditEntry, FerryService } from '../engine/ports.js';
import { section } from '../views/blocks.js';
import { campaignEndedText } from '../views/campaign.js';
import { noticeBlocks, noticeFor } from '../views/notices.js';
import type { PostMortemView } from '../views/postmortem.js';
import { progressMessage } from '../views/progress.js';
import type { ApprovalNotifier } from './approvals.js';
import type { ChartOutcome } from './chart.js';
import type { KeyValueStore } from './kv.js';
import type { SlackOutbox } from './outbox.js';

/**
 * Live progress: reads each followed evacuation's event stream and keeps one message per
 * evacuation up to date (through the outbox, which coalesces and paces updates), with notable
 * events as thread replies, approval requests to the approvers, and the post-mortem at the end.
 * Where each message is and how far each stream was read live in the store, so a restarted bot
 * carries on in the same message without repeating the thread.
 */

interface Followed {
  channel: string;
  ts?: string;
  /** Events already handled. */
  cursor: number;
  finished: boolean;
}

export interface ProgressDeps {
  service: FerryService;
  outbox: SlackOutbox;
  kv: KeyValueStore;
  approvals: ApprovalNotifier;
  channel: string;
  timezone: string;
  /** Engine time, for "updated at" and elapsed durations. */
  now: () => number;
  /** The post-mortem for a finished evacuation's events: the message, and thread pages of its full table. */
  report: (events: FerryEvent[], audit?: AuditEntry[]) => PostMortemView;
  /** How often event streams are read, wall ms. */
  pollMs: number;
  /** Draws and uploads the post-mortem's chart into the report's thread; none when absent. */
  chart?: (
    target: { channel: string; threadTs: string },
    evacuation: Evacuation,
    events: FerryEvent[],
  ) => Promise<ChartOutcome>;
  /** Mentioned in notices people must act on (a stalled post-copy). */
  approvers?: readonly string[];
  /** How users type ferry's command, for notices that name one. */
  command?: string;
  log?: Log;
}

const FOLLOWING = 'progress:following';
const CAMPAIGNS = 'progress:campaigns';

export class ProgressPublisher {
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private stopped = false;

  constructor(private readonly deps: ProgressDeps) {}

  /** Starts following an evacuation (idempotent): its message appears on the next poll. */
  async follow(evacuationId: string): Promise<void> {
    if (!(await this.load(evacuationId)))
      await this.save(evacuationId, { channel: this.deps.channel, cursor: 0, finished: false });
    await this.deps.kv.add(FOLLOWING, evacuationId);
    this.poke();
  }

  /**
   * Follows a campaign: each step's evacuation gets its progress message once the engine has
   * started it, and the campaign's end is posted. The engine advances the campaign; this only
   * shows it.
   */
  async followCampaign(campaignId: string): Promise<void> {
    await this.deps.kv.add(CAMPAIGNS, campaignId);
    this.poke();
  }

  /** Posts a line in an evacuation's progress thread; nothing when ferry has no progress message for it. */
  async tellThread(evacuationId: string, markdown: string): Promise<void> {
    const followed = await this.load(evacuationId);
    if (!followed?.ts) return;
    await this.deps.outbox.post(
      followed.channel,
      { text: markdown, blocks: [section(markdown)] },
      followed.ts,
    );
    this.poke();
  }

  /** Polls every followed evacuation until stopped; resumes what a previous process followed. */
  start(): void {
    this.stopped = false;
    this.poke();
  }

  /** Stops polling; waits for a poll in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  /** Reads new events of every followed evacuation and publishes them; resolves when done. */
  async pollOnce(): Promise<void> {
    for (const id of await this.deps.kv.members(CAMPAIGNS)) {
      if (this.stopped) return;
      try {
        await this.publishCampaign(id);
      } catch (err) {
        this.deps.log?.(`progress of ${id}: ${err instanceof Error ? err.message : String(err)}`, {
          campaignId: id,
          level: 'warn',
        });
      }
    }
    for (const id of await this.deps.kv.members(FOLLOWING)) {
      if (this.stopped) return;
      try {
        await this.publish(id);
      } catch (err) {
        // One evacuation's trouble (engine down, a Slack error) must not stop the others.
        this.deps.log?.(`progress of ${id}: ${err instanceof Error ? err.message : String(err)}`, {
          evacuationId: id,
          level: 'warn',
        });
      }
    }
  }

  private poke(): void {
    if (this.stopped || this.polling) return;
    clearTimeout(this.timer);
    this.polling = this.pollOnce().finally(() => {
      this.polling = undefined;
      if (!this.stopped) this.timer = setTimeout(() => this.poke(), this.deps.pollMs);
    });
  }

  private async publish(id: string): Promise<void> {
    const followed = await this.load(id);
    if (!followed || followed.finished) {
      await this.deps.kv.remove(FOLLOWING, id);
      return;
    }
    await this.deps.approvals.remind(id);
    const events = await this.deps.service.events(id, followed.cursor);
    if (events.length === 0 && followed.ts) return;
    const evacuation = await this.deps.service.status(id);
    // Shown only once a failover cannot take it back: a message once "completed" is never
    // edited back to "draining" by a commit no replica confirmed. Not settled: the next poll.
    await this.deps.service.settle?.();
    const view = progressMessage(evacuation, { now: this.deps.now(), timezone: this.deps.timezone });
    if (!followed.ts) {
      followed.ts = await this.deps.outbox.post(followed.channel, view);
      await this.save(id, followed);
    } else {
      this.deps.outbox.update(followed.channel, followed.ts, view);
    }
    for (const event of events) {
      await this.handle(event, followed);
      followed.cursor++;
      followed.finished ||= event.type === 'evacuation.finished';
      // Saved after each event: a restart repeats at most the event in hand.
      await this.save(id, followed);
    }
    if (followed.finished) await this.deps.kv.remove(FOLLOWING, id);
  }

  private async publishCampaign(id: string): Promise<void> {
    const campaign = await this.deps.service.campaignStatus(id);
    for (const { evacuationId } of campaign.steps.flatMap((s) => s.hosts)) {
      if (!evacuationId || (await this.load(evacuationId))) continue;
      // Ids are fixed a moment before the engine creates their evacuations.
      const exists = await this.deps.service.status(evacuationId).then(
        () => true,
        () => false,
      );
      if (exists) await this.follow(evacuationId);
    }
    if (!FINAL_CAMPAIGN_STATES.includes(campaign.state)) return;
    if (await this.deps.kv.claim(`progress:campaign-ended:${id}`, '1')) {
      const text = campaignEndedText(campaign);
      await this.deps.outbox.post(this.deps.channel, { text, blocks: [section(text)] });
    }
    await this.deps.kv.remove(CAMPAIGNS, id);
  }

  private async handle(event: FerryEvent, followed: Followed): Promise<void> {
    const { outbox, approvals, service, timezone } = this.deps;
    if (event.type === 'approval.requested') await approvals.requested(event.approval);
    if (event.type === 'approval.decided') await approvals.refresh(event.evacuationId);
    const notice = noticeFor(event, timezone, { approvers: this.deps.approvers, command: this.deps.command });
    if (notice)
      await outbox.post(
        followed.channel,
        { text: notice, blocks: noticeBlocks(event, notice) },
        followed.ts,
        {
          broadcast: broadcast(event),
        },
      );
    if (event.type === 'evacuation.finished') {
      const all = await service.events(event.evacuationId);
      const report = this.deps.report(all, await service.audit(event.evacuationId));
      const ts = await outbox.post(followed.channel, report.message);
      await this.postChart(event.evacuationId, all, { channel: followed.channel, threadTs: ts });
      for (const page of report.thread) await outbox.post(followed.channel, page, ts);
    }
  }

  /** The chart under the post-mortem, once per evacuation; the thread says why when there is none. */
  private async postChart(
    id: string,
    events: FerryEvent[],
    target: { channel: string; threadTs: string },
  ): Promise<void> {
    const { chart, kv, outbox, service } = this.deps;
    if (!chart || !(await kv.claim(`progress:chart:${id}`, '1'))) return;
    const outcome = await chart(target, await service.status(id), events).catch(
      (err: unknown): ChartOutcome => ({
        posted: false,
        why: `the chart could not be drawn (${err instanceof Error ? err.message : String(err)})`,
      }),
    );
    if (outcome.posted) return;
    const text = `📈 ${outcome.why}`;
    this.deps.log?.(`${id}: ${outcome.why}`);
    await outbox.post(target.channel, { text, blocks: [section(text)] }, target.threadTs);
  }

  private async load(id: string): Promise<Followed | undefined> {
    const stored = await this.deps.kv.get(`progress:${id}`);
    return stored ? (JSON.parse(stored) as Followed) : undefined;
  }

  private async save(id: string, followed: Followed): Promise<void> {
    await this.deps.kv.set(`progress:${id}`, JSON.stringify(followed));
  }
}

/**
 * Thread notices the whole channel sees too (reply_broadcast): failures and aborts, and live approvals asked
 * and decided. Pre-approvals stay in the thread: a large drain asks many at once, and their one
 * approval message already says it all.
 */
function broadcast(event: FerryEvent): boolean {
  if (event.type === 'migration.failed' || event.type === 'migration.aborted') return true;
  if (event.type === 'approval.requested') return !isEarlyApproval(event.approval.id);
  if (event.type === 'approval.decided') return !isEarlyApproval(event.decision.approvalId);
  return false;
}
