import { webApi } from '@slack/bolt';
import type { Message } from '../views/blocks.js';

/**
 * Every message ferry writes to channels goes through here, so Slack's rate limits are respected
 * in one place:
 * - posts (new messages, thread replies) go out in order and are never dropped;
 * - updates are coalesced per message (the latest state wins), at most one per message every
 *   `minUpdateIntervalMs`, and at most `updatesPerMinute` across the workspace (chat.update is Tier 3);
 * - an HTTP 429 blocks that method for its Retry-After and the write is retried, so the final
 *   state of a message is never lost.
 * The client must be built with `rejectRateLimitedCalls: true`: one message's backoff then does
 * not stall the client's whole queue. Slack's limits are in wall time, so this paces on the wall
 * clock, whatever clock the engine runs on.
 */

export interface OutboxOptions {
  minUpdateIntervalMs: number;
  updatesPerMinute: number;
  /** Give up on a write after this many non-rate-limit failures (a deleted message, bad auth). */
  maxAttempts?: number;
  log?: (line: string) => void;
}

interface PendingPost {
  args: { channel: string; text: string; blocks: unknown[]; thread_ts?: string; reply_broadcast?: boolean };
  resolve: (ts: string) => void;
  reject: (err: unknown) => void;
  attempts: number;
}

interface PendingUpdate {
  channel: string;
  ts: string;
  message: Message;
  attempts: number;
}

type Method = 'chat.postMessage' | 'chat.update';

export class SlackOutbox {
  private readonly posts: PendingPost[] = [];
  /** Latest content per message, keyed `channel/ts`. */
  private readonly updates = new Map<string, PendingUpdate>();
  private readonly lastUpdateAt = new Map<string, number>();
  /** When recent chat.update calls were sent: the workspace budget's sliding minute. */
  private readonly recentUpdates: number[] = [];
  private readonly blockedUntil = new Map<Method, number>();
  private wake?: () => void;
  private timer?: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];
  /** True while the writing loop runs; set and cleared synchronously so no kick is missed. */
  private active = false;
  private stopped = false;

  constructor(
    private readonly client: webApi.WebClient,
    private readonly options: OutboxOptions,
  ) {}

  /**
   * Posts a message (or a thread reply, also shown in the channel with `broadcast`); resolves
   * with its ts once Slack accepted it.
   */
  post(
    channel: string,
    message: Message,
    threadTs?: string,
    options: { broadcast?: boolean } = {},
  ): Promise<string> {
    return new Promise((resolve, reject) => {
      this.posts.push({
        args: {
          channel,
          text: message.text,
          blocks: message.blocks,
          ...(threadTs ? { thread_ts: threadTs } : {}),
          ...(threadTs && options.broadcast ? { reply_broadcast: true } : {}),
        },
        resolve,
        reject,
        attempts: 0,
      });
      this.kick();
    });
  }

  /** Replaces a message's content; only the latest content queued for a message is sent. */
  update(channel: string, ts: string, message: Message): void {
    const key = `${channel}/${ts}`;
    this.updates.set(key, { channel, ts, message, attempts: 0 });
    this.kick();
  }

  /** Resolves once every queued post and update has been written (or given up). */
  idle(): Promise<void> {
    if (this.posts.length === 0 && this.updates.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops writing; queued writes are dropped. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.active) {
      this.wake?.();
      return;
    }
    this.active = true;
    void this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const post = this.posts[0];
      if (post && now >= (this.blockedUntil.get('chat.postMessage') ?? 0)) {
        await this.sendPost(post);
        continue;
      }
      const due = this.dueUpdate(now);
      if (due) {
        await this.sendUpdate(due);
        continue;
      }
      if (this.posts.length === 0 && this.updates.size === 0) {
        this.active = false;
        for (const resolve of this.idleWaiters.splice(0)) resolve();
        return;
      }
      await this.sleep(this.nextWakeAt(now) - now);
    }
  }

  private async sendPost(post: PendingPost): Promise<void> {
    try {
      const result = await this.client.chat.postMessage(post.args as webApi.ChatPostMessageArguments);
      this.posts.shift();
      post.resolve(String(result.ts));
    } catch (err) {
      if (this.backOff('chat.postMessage', err)) return;
      post.attempts++;
      if (post.attempts >= (this.options.maxAttempts ?? 3)) {
        this.posts.shift();
        this.options.log?.(`giving up posting to ${post.args.channel}: ${describe(err)}`);
        post.reject(err);
      }
    }
  }

  private async sendUpdate(update: PendingUpdate): Promise<void> {
    const key = `${update.channel}/${update.ts}`;
    // Taken off the queue while in flight: a newer state queued meanwhile is sent next.
    this.updates.delete(key);
    this.lastUpdateAt.set(key, Date.now());
    this.recentUpdates.push(Date.now());
    try {
      await this.client.chat.update({
        channel: update.channel,
        ts: update.ts,
        text: update.message.text,
        blocks: update.message.blocks,
      } as webApi.ChatUpdateArguments);
    } catch (err) {
      const rateLimited = this.backOff('chat.update', err);
      update.attempts++;
      if (!rateLimited && update.attempts >= (this.options.maxAttempts ?? 3)) {
        this.options.log?.(`giving up updating ${key}: ${describe(err)}`);
        return;
      }
      // Requeue unless a newer state arrived while this one was in flight.
      if (!this.updates.has(key)) this.updates.set(key, update);
    }
  }

  /** On a 429, blocks `method` for Retry-After; true when the error was a rate limit. */
  private backOff(method: Method, err: unknown): boolean {
    if (!(err instanceof Error) || (err as { code?: string }).code !== webApi.ErrorCode.RateLimitedError)
      return false;
    const retryAfterS = (err as webApi.WebAPIRateLimitedError).retryAfter;
    this.blockedUntil.set(method, Date.now() + Math.max(1, retryAfterS) * 1000);
    this.options.log?.(`${method} rate limited: waiting ${retryAfterS} s as Slack asked`);
    return true;
  }

  private dueUpdate(now: number): PendingUpdate | undefined {
    if (now < (this.blockedUntil.get('chat.update') ?? 0)) return undefined;
    while (this.recentUpdates.length > 0 && this.recentUpdates[0]! <= now - 60_000)
      this.recentUpdates.shift();
    if (this.recentUpdates.length >= this.options.updatesPerMinute) return undefined;
    let best: PendingUpdate | undefined;
    let bestLast = Number.POSITIVE_INFINITY;
    for (const [key, update] of this.updates) {
      const last = this.lastUpdateAt.get(key) ?? Number.NEGATIVE_INFINITY;
      // The message that waited longest goes first: no message starves another.
      if (now >= last + this.options.minUpdateIntervalMs && last < bestLast) {
        best = update;
        bestLast = last;
      }
    }
    return best;
  }

  /** The earliest moment something queued may be sent. */
  private nextWakeAt(now: number): number {
    const candidates: number[] = [];
    if (this.posts.length > 0) candidates.push(this.blockedUntil.get('chat.postMessage') ?? now);
    if (this.updates.size > 0) {
      const budgetAt =
        this.recentUpdates.length >= this.options.updatesPerMinute ? this.recentUpdates[0]! + 60_000 : now;
      const blockedAt = this.blockedUntil.get('chat.update') ?? now;
      for (const key of this.updates.keys()) {
        const spacedAt = (this.lastUpdateAt.get(key) ?? now) + this.options.minUpdateIntervalMs;
        candidates.push(
          Math.max(budgetAt, blockedAt, Math.min(spacedAt, now + this.options.minUpdateIntervalMs)),
        );
      }
    }
    return Math.max(now + 1, Math.min(...candidates));
  }

  /** Sleeps until `ms` passed or new work arrived. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.timer = setTimeout(this.wake, ms);
    });
  }
}

function describe(err: unknown): string {
  const data = (err as { data?: { error?: string } }).data;
  return data?.error ?? (err instanceof Error ? err.message : String(err));
}
