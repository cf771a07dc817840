import type { ApprovalRequest } from '../engine/model.js';
import type { FerryService } from '../engine/ports.js';
import { approvalPages, reminderText } from '../views/approval.js';
import { section } from '../views/blocks.js';
import type { KeyValueStore } from './kv.js';
import type { SlackOutbox } from './outbox.js';

/**
 * One approval message per evacuation in the approvers' channel, kept in step with the engine:
 * every request of the evacuation (early and live) re-rendered from the engine whenever one is
 * asked or decided, updated in place (its overflow pages in its thread), and reminders in its
 * thread at half and nine tenths of each waiting request's life. Where the message and its
 * pages are lives in the store, so a restart neither loses nor repeats them; each reminder is
 * claimed once across bot processes.
 */

/** When reminders go out, as fractions of a request's life (requested → expires). */
export const REMINDER_AT = [0.5, 0.9] as const;

interface Posted {
  channel: string;
  /** The message's ts, then its thread pages' ts. */
  pages: string[];
  /** Requests that waited at the last render: what reminders are for. */
  waiting: { id: string; requestedAt: number; expiresAt: number }[];
}

export class ApprovalNotifier {
  /** Renders of one evacuation run one after another in this process: a page is never posted twice. */
  private readonly queue = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      service: Pick<FerryService, 'approvals' | 'approval'>;
      outbox: SlackOutbox;
      kv: KeyValueStore;
      channel: string;
      timezone: string;
      /** Who may decide: mentioned in the message and in reminders. */
      approvers: readonly string[];
      /** Engine time: reminders are due by the engine's clock, like expiry. */
      now: () => number;
    },
  ) {}

  /** A request was asked: the evacuation's message shows it (posted if it is the first). */
  requested(request: ApprovalRequest): Promise<void> {
    return this.refresh(request.evacuationId);
  }

  /** A request was decided (by someone, or expiry): the message shows it. */
  decided(request: Pick<ApprovalRequest, 'evacuationId'>): Promise<void> {
    return this.refresh(request.evacuationId);
  }

  /** Renders the evacuation's approvals into its message and thread pages. */
  refresh(evacuationId: string): Promise<void> {
    const previous = this.queue.get(evacuationId) ?? Promise.resolve();
    const next = previous
      .then(() => this.render(evacuationId))
      .finally(() => {
        if (this.queue.get(evacuationId) === next) this.queue.delete(evacuationId);
      });
    this.queue.set(
      evacuationId,
      next.catch(() => {}),
    );
    return next;
  }

  /** Posts the reminders that are due for the evacuation's waiting requests, each once. */
  async remind(evacuationId: string): Promise<void> {
    const posted = await this.load(evacuationId);
    if (!posted || posted.waiting.length === 0) return;
    const now = this.deps.now();
    for (const waiting of posted.waiting) {
      const life = waiting.expiresAt - waiting.requestedAt;
      for (const [n, fraction] of REMINDER_AT.entries()) {
        if (now < waiting.requestedAt + fraction * life || now >= waiting.expiresAt) continue;
        if (!(await this.deps.kv.claim(`approval-reminder:${waiting.id}:${n}`, '1'))) continue;
        const current = await this.deps.service.approval(waiting.id);
        if (!current || current.decision) continue;
        const text = reminderText(current.request, this.options(), now);
        await this.deps.outbox.post(posted.channel, { text, blocks: [section(text)] }, posted.pages[0]);
      }
    }
  }

  private async render(evacuationId: string): Promise<void> {
    const views = await this.deps.service.approvals(evacuationId);
    if (views.length === 0) return;
    const pages = approvalPages(evacuationId, views, this.options());
    const posted = (await this.load(evacuationId)) ?? { channel: this.deps.channel, pages: [], waiting: [] };
    const { outbox } = this.deps;
    for (const [i, page] of pages.entries()) {
      const ts = posted.pages[i];
      if (ts) outbox.update(posted.channel, ts, page);
      else {
        posted.pages[i] = await outbox.post(posted.channel, page, i === 0 ? undefined : posted.pages[0]);
        // Saved at once: a restart updates this page instead of posting it again.
        await this.save(evacuationId, posted);
      }
    }
    // Pages no longer needed (their requests were decided) say so instead of showing stale buttons.
    for (const ts of posted.pages.slice(pages.length)) {
      const text = 'Nothing waits on this page any more: see the message above.';
      outbox.update(posted.channel, ts, { text, blocks: [section(text)] });
    }
    posted.pages = posted.pages.slice(0, pages.length);
    posted.waiting = views
      .filter((v) => !v.decision)
      .map(({ request }) => ({
        id: request.id,
        requestedAt: request.requestedAt,
        expiresAt: request.expiresAt,
      }));
    await this.save(evacuationId, posted);
  }

  private options() {
    return { timezone: this.deps.timezone, approvers: this.deps.approvers };
  }

  private async load(evacuationId: string): Promise<Posted | undefined> {
    const stored = await this.deps.kv.get(key(evacuationId));
    return stored ? (JSON.parse(stored) as Posted) : undefined;
  }

  private async save(evacuationId: string, posted: Posted): Promise<void> {
    await this.deps.kv.set(key(evacuationId), JSON.stringify(posted));
  }
}

function key(evacuationId: string): string {
  return `approvals:${evacuationId}`;
}
