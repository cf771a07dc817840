import { createHmac, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * A stand-in for Slack's servers on loopback, speaking the real wire format: the Web API
 * (`slackApiUrl`), response URLs, Socket Mode (a WebSocket server that says hello and expects
 * envelope acks) and, for HTTP mode, signed requests to the app. It keeps the channels' messages
 * and threads, records every call, and can answer 429 with Retry-After. The demo plays users on
 * it; the tests assert on it.
 */

export interface StoredMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  /** Set for ephemeral messages: only this user sees them. */
  visibleTo?: string;
  text: string;
  blocks: Array<Record<string, unknown>>;
  /** How many times it was edited (chat.update or replace_original). */
  edits: number;
  /** The response URL it was posted or last replaced through, if any (an answer to that command or click). */
  responseUrl?: string;
  /** A thread reply also shown in the channel (`reply_broadcast`). */
  broadcast?: boolean;
  /** A file shared into the channel or thread (files.completeUploadExternal). */
  file?: { id: string; title?: string; filename: string };
}

/** A file uploaded through files.getUploadURLExternal, its bytes and where it was shared. */
export interface Upload {
  id: string;
  filename: string;
  length: number;
  altText?: string;
  bytes?: Buffer;
  title?: string;
  channel?: string;
  threadTs?: string;
}

export interface ApiCall {
  method: string;
  args: Record<string, unknown>;
  /** The HTTP status the stand-in answered with. */
  status: number;
  /** Wall-clock ms when it arrived. */
  at: number;
}

export type StandinEvent =
  | { kind: 'posted' | 'updated' | 'ephemeral'; message: StoredMessage }
  | { kind: 'command'; user: string; text: string }
  | { kind: 'click'; user: string; label: string; message: StoredMessage }
  | { kind: 'home'; user: string }
  | { kind: 'view'; call: ViewCall };

export interface StandinOptions {
  botToken: string;
  appToken?: string;
  /** Signs requests to an HTTP-mode app. */
  signingSecret?: string;
  /** User-group id → member ids, for usergroups.users.list. */
  groups?: Record<string, string[]>;
  /** The bot token's scopes (default: manifest.yml's), sent as `x-oauth-scopes` and enforced. */
  scopes?: string[];
}

/** The scopes of manifest.yml, which a real installation of the app grants. */
export const MANIFEST_SCOPES = ['commands', 'chat:write', 'usergroups:read', 'files:write'];
/** What an app-level token for Socket Mode holds. */
const APP_TOKEN_SCOPES = ['connections:write'];
/** The scope each Web API method needs, as Slack answers `missing_scope` without it. */
const METHOD_SCOPES: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'usergroups.users.list': 'usergroups:read',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
  'apps.connections.open': 'connections:write',
};

export interface Delivery {
  /** The app's ack body (HTTP response body or Socket Mode ack payload). */
  body: unknown;
  /** HTTP status (Socket Mode acks count as 200). */
  status: number;
  /** The response URL given with the command or click: `answers(url)` finds what the app sent to it. */
  responseUrl?: string;
  /** Socket Mode: the envelope it came in (`redeliver` sends it again). */
  envelopeId?: string;
}

/** What Socket Mode calls the kinds of requests it carries. */
type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

/** A views.publish, views.open or views.update the app made. */
export interface ViewCall {
  method: 'views.publish' | 'views.open' | 'views.update' | 'views.push';
  /** views.publish: whose Home. */
  user?: string;
  /** views.open / views.push: the trigger it answered. */
  triggerId?: string;
  viewId: string;
  view: Record<string, unknown>;
}

const TEAM = 'T0FERRY';

/** What every interactive payload (a modal's submission, a button press) says of where it came from and who sent it. */
function interactionEnvelope(user: string, triggerId: string = randomUUID()) {
  return {
    team: { id: TEAM, domain: 'ferry' },
    user: { id: user, username: user.toLowerCase(), team_id: TEAM },
    api_app_id: 'A0FERRY',
    token: 'legacy-verification-token',
    trigger_id: triggerId,
  };
}
export const BOT_USER = 'U0FERRYBOT';

export class SlackStandin extends EventEmitter {
  readonly calls: ApiCall[] = [];
  readonly messages: StoredMessage[] = [];
  /** Every view the app published or opened, oldest first. */
  readonly views: ViewCall[] = [];
  /** Files uploaded, by id, with their bytes once sent to the upload URL. */
  readonly uploads = new Map<string, Upload>();
  private server?: Server;
  private wss?: WebSocketServer;
  private socket?: WebSocket;
  /** Socket Mode connections accepted so far (a restarted app makes a new one). */
  connections = 0;
  private readonly acks = new Map<string, (payload: unknown) => void>();
  /** Socket Mode envelopes sent, by id, for `redeliver`. */
  private readonly envelopes = new Map<string, { type: EnvelopeType; payload: Record<string, unknown> }>();
  private readonly responseUrls = new Map<string, { channel: string; user: string; messageTs?: string }>();
  private readonly rateLimits = new Map<string, { count: number; retryAfterS: number }>();
  private seq = 0;
  private pingTimer?: NodeJS.Timeout;
  /** Where an HTTP-mode app listens (its /slack/events URL). */
  appUrl?: string;

  constructor(private readonly options: StandinOptions) {
    super();
  }

  /** Starts listening on a free loopback port. */
  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.wss = new WebSocketServer({ server: this.server, path: '/socket' });
    this.wss.on('connection', (ws) => {
      this.socket = ws;
      this.connections++;
      ws.on('message', (data) => this.onSocketMessage(String(data)));
      ws.on('close', () => {
        if (this.socket === ws) this.socket = undefined;
      });
      ws.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'standin' } }));
    });
    // The Socket Mode client expects pings from the server.
    this.pingTimer = setInterval(() => this.socket?.ping(), 5000);
    this.pingTimer.unref();
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  /** The Web API base URL for `clientOptions.slackApiUrl`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  /** Resolves once a Socket Mode app has connected (the `count`-th connection, for a restarted app). */
  async socketConnected(count = 1): Promise<void> {
    await this.waitFor(`Socket Mode connection #${count}`, () => this.connections >= count && this.socket);
  }

  /** What the app sent to a response URL (its answers to one command or click), oldest first. */
  answers(responseUrl: string): StoredMessage[] {
    return this.messages.filter((m) => m.responseUrl === responseUrl);
  }

  async stop(): Promise<void> {
    clearInterval(this.pingTimer);
    for (const client of this.wss?.clients ?? []) client.terminate();
    await new Promise<void>((resolve) => this.wss?.close(() => resolve()) ?? resolve());
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /** The next `count` calls to `method` are answered with HTTP 429 and Retry-After. */
  rateLimit(method: string, count: number, retryAfterS: number): void {
    this.rateLimits.set(method, { count, retryAfterS });
  }

  /** Messages in a channel (top level and threads), optionally only what `user` can see. */
  channel(channel: string, user?: string): StoredMessage[] {
    return this.messages.filter(
      (m) => m.channel === channel && (m.visibleTo === undefined || m.visibleTo === user),
    );
  }

  /** A thread's replies. */
  thread(channel: string, ts: string): StoredMessage[] {
    return this.messages.filter((m) => m.channel === channel && m.threadTs === ts);
  }

  /** Polls until `find` returns something, or fails after `timeoutMs` saying what it waited for. */
  async waitFor<T>(what: string, find: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = find();
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Users

  /**
   * A user types `/ferry TEXT` (or `command`) in a channel; resolves with the app's ack. The same
   * `triggerId` twice is what a replayed request looks like.
   */
  slash(
    user: string,
    text: string,
    channel: string,
    options: { command?: string; triggerId?: string } = {},
  ): Promise<Delivery> {
    this.emit('event', { kind: 'command', user, text } satisfies StandinEvent);
    const responseUrl = this.newResponseUrl({ channel, user });
    const payload = {
      token: 'legacy-verification-token',
      team_id: TEAM,
      team_domain: 'ferry',
      channel_id: channel,
      channel_name: channel,
      user_id: user,
      user_name: user.toLowerCase(),
      command: options.command ?? '/ferry',
      text,
      api_app_id: 'A0FERRY',
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: options.triggerId ?? randomUUID(),
    };
    return this.deliver('slash_commands', payload, responseUrl);
  }

  /** A user opens the app's Home tab: an `app_home_opened` event (Socket Mode envelope or signed JSON POST). */
  openHome(user: string): Promise<Delivery> {
    this.emit('event', { kind: 'home', user } satisfies StandinEvent);
    const eventTs = `${Math.floor(Date.now() / 1000)}.000100`;
    const payload = {
      token: 'legacy-verification-token',
      team_id: TEAM,
      api_app_id: 'A0FERRY',
      type: 'event_callback',
      event_id: `Ev${randomUUID().replaceAll('-', '').slice(0, 10).toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user, channel: `D${user.slice(1)}`, tab: 'home', event_ts: eventTs },
    };
    return this.deliver('events_api', payload);
  }

  /**
   * A user submits a modal the app opened: `values` by input block id (each input's text), sent
   * as a view_submission; resolves with the app's ack (`response_action` errors or update).
   */
  submitView(user: string, call: ViewCall, values: Record<string, string>): Promise<Delivery> {
    const inputs = (
      call.view.blocks as Array<{ type: string; block_id?: string; element?: { action_id: string } }>
    ).filter((b) => b.type === 'input' && b.block_id && b.element);
    const state = Object.fromEntries(
      inputs.map((b) => [
        b.block_id!,
        { [b.element!.action_id]: { type: 'plain_text_input', value: values[b.block_id!] ?? null } },
      ]),
    );
    const payload = {
      type: 'view_submission',
      ...interactionEnvelope(user),
      view: { id: call.viewId, team_id: TEAM, ...call.view, state: { values: state } },
    };
    return this.deliver('interactive', payload);
  }

  /** The Home view last published for `user`, if any. */
  home(user: string): ViewCall | undefined {
    return this.views.filter((v) => v.method === 'views.publish' && v.user === user).at(-1);
  }

  /**
   * A user presses the button labelled `label` on `message` (in the actions block `blockId`, when
   * several carry that label); resolves with the app's ack.
   */
  click(user: string, message: StoredMessage, label: string, blockId?: string): Promise<Delivery> {
    for (const block of message.blocks) {
      if (block.type !== 'actions' || (blockId !== undefined && block.block_id !== blockId)) continue;
      const elements = block.elements as Array<{ text: { text: string }; action_id: string; value: string }>;
      const pressed = elements.find((e) => e.text.text === label);
      if (!pressed) continue;
      this.emit('event', { kind: 'click', user, label, message } satisfies StandinEvent);
      return this.sendAction(user, message, {
        block_id: block.block_id as string,
        action_id: pressed.action_id,
        value: pressed.value,
      });
    }
    throw new Error(`no button "${label}" on message ${message.ts}`);
  }

  /**
   * A block_actions payload with any action id and value: what a forger would send. The same
   * `triggerId` twice is what a replayed request looks like.
   */
  sendAction(
    user: string,
    message: Pick<StoredMessage, 'channel' | 'ts' | 'text' | 'blocks'>,
    action: { block_id: string; action_id: string; value: string },
    options: { triggerId?: string } = {},
  ): Promise<Delivery> {
    const responseUrl = this.newResponseUrl({ channel: message.channel, user, messageTs: message.ts });
    const payload = {
      type: 'block_actions',
      ...interactionEnvelope(user, options.triggerId),
      container: {
        type: 'message',
        message_ts: message.ts,
        channel_id: message.channel,
        is_ephemeral: false,
      },
      channel: { id: message.channel, name: message.channel },
      message: { type: 'message', ts: message.ts, text: message.text, blocks: message.blocks },
      response_url: responseUrl,
      actions: [{ type: 'button', ...action, text: { type: 'plain_text', text: 'button' }, action_ts: '1' }],
    };
    return this.deliver('interactive', payload, responseUrl);
  }

  /** Sends an HTTP-mode request with a chosen signature (tests of refusal). */
  async postSigned(
    body: string,
    signature: string,
    timestamp: number,
    contentType = 'application/x-www-form-urlencoded',
  ): Promise<Delivery> {
    const res = await fetch(this.appUrl!, {
      method: 'POST',
      headers: {
        'content-type': contentType,
        'x-slack-signature': signature,
        'x-slack-request-timestamp': String(timestamp),
      },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: text };
  }

  /** `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`: how Slack signs requests. */
  sign(body: string, timestamp: number, secret = this.options.signingSecret ?? ''): string {
    return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  }

  private async deliver(
    type: EnvelopeType,
    payload: Record<string, unknown>,
    responseUrl?: string,
  ): Promise<Delivery> {
    if (this.appUrl) {
      // Events come as JSON; commands and interactions as forms.
      const body =
        type === 'events_api'
          ? JSON.stringify(payload)
          : type === 'slash_commands'
            ? new URLSearchParams(payload as Record<string, string>).toString()
            : new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
      const timestamp = Math.floor(Date.now() / 1000);
      const delivery = await this.postSigned(
        body,
        this.sign(body, timestamp),
        timestamp,
        type === 'events_api' ? 'application/json' : undefined,
      );
      return { status: delivery.status, body: parseMaybeJson(delivery.body as string), responseUrl };
    }
    const envelopeId = randomUUID();
    this.envelopes.set(envelopeId, { type, payload });
    return { ...(await this.sendEnvelope(envelopeId, type, payload, 0)), responseUrl };
  }

  /**
   * Socket Mode: sends envelope `envelopeId` again, as Slack does when its ack did not arrive in
   * time (`retry_attempt` 1, reason `timeout`). `change` alters the payload, e.g. a fresh
   * trigger_id, to show that the envelope alone is recognised.
   */
  redeliver(
    envelopeId: string,
    change: (payload: Record<string, unknown>) => Record<string, unknown> = (p) => p,
  ): Promise<Delivery> {
    const sent = this.envelopes.get(envelopeId);
    if (!sent) throw new Error(`no envelope ${envelopeId} was sent`);
    return this.sendEnvelope(envelopeId, sent.type, change(sent.payload), 1);
  }

  private async sendEnvelope(
    envelopeId: string,
    type: EnvelopeType,
    payload: Record<string, unknown>,
    attempt: number,
  ): Promise<Delivery> {
    if (!this.socket) throw new Error('no app is connected over Socket Mode');
    const acked = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ack for ${type} within 3 s`)), 3000);
      this.acks.set(envelopeId, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
    this.socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        accepts_response_payload: true,
        retry_attempt: attempt,
        ...(attempt > 0 ? { retry_reason: 'timeout' } : {}),
      }),
    );
    return { status: 200, body: await acked, envelopeId };
  }

  private onSocketMessage(data: string): void {
    const message = parseMaybeJson(data) as { envelope_id?: string; payload?: unknown };
    const resolve = message.envelope_id ? this.acks.get(message.envelope_id) : undefined;
    if (!resolve) return;
    this.acks.delete(message.envelope_id!);
    resolve(message.payload ?? {});
  }

  private newResponseUrl(target: { channel: string; user: string; messageTs?: string }): string {
    const id = randomUUID();
    this.responseUrls.set(id, target);
    return `http://127.0.0.1:${this.port}/respond/${id}`;
  }

  // -------------------------------------------------------------------------------------------
  // Web API and response URLs

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const raw = body.toString();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const args = parseBody(raw, req.headers['content-type'] ?? '');
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname.startsWith('/respond/')) {
      const target = this.responseUrls.get(url.pathname.slice('/respond/'.length));
      if (!target) return reply(404, { ok: false, error: 'expired_url' });
      this.respond(target, args, `http://127.0.0.1:${this.port}${url.pathname}`);
      return reply(200, { ok: true });
    }
    if (url.pathname.startsWith('/upload/')) {
      // Where files.getUploadURLExternal sent the client: the bytes of one file, as sent.
      const upload = this.uploads.get(url.pathname.slice('/upload/'.length));
      if (!upload) return reply(404, { ok: false, error: 'invalid_upload_url' });
      // @slack/web-api sends the file as one part of multipart/form-data; raw bytes work too.
      upload.bytes = firstPart(body, req.headers['content-type'] ?? '');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`OK - ${upload.bytes.length}`);
      return;
    }
    if (!url.pathname.startsWith('/api/')) return reply(404, { ok: false, error: 'not_found' });
    const method = url.pathname.slice('/api/'.length);
    const limit = this.rateLimits.get(method);
    if (limit && limit.count > 0) {
      limit.count--;
      this.calls.push({ method, args, status: 429, at: Date.now() });
      return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(limit.retryAfterS) });
    }
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || String(args.token ?? '');
    const expected = method === 'apps.connections.open' ? this.options.appToken : this.options.botToken;
    if (token !== expected) {
      this.calls.push({ method, args, status: 200, at: Date.now() });
      return reply(200, { ok: false, error: 'invalid_auth' });
    }
    // Slack names a token's scopes on every reply, and refuses a method the token lacks one for.
    const scopes =
      method === 'apps.connections.open' ? APP_TOKEN_SCOPES : (this.options.scopes ?? MANIFEST_SCOPES);
    const headers = { 'x-oauth-scopes': scopes.join(',') };
    this.calls.push({ method, args, status: 200, at: Date.now() });
    const needed = METHOD_SCOPES[method];
    if (needed && !scopes.includes(needed))
      return reply(200, { ok: false, error: 'missing_scope', needed, provided: scopes.join(',') }, headers);
    reply(200, this.api(method, args), headers);
  }

  private api(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'views.publish':
      case 'views.open':
      case 'views.update':
      case 'views.push':
        return this.recordView(method, args);
      case 'files.getUploadURLExternal': {
        const length = Number(args.length);
        if (typeof args.filename !== 'string' || !Number.isInteger(length) || length <= 0)
          return { ok: false, error: 'invalid_arguments' };
        const id = `F${String(this.uploads.size + 1).padStart(8, '0')}`;
        this.uploads.set(id, {
          id,
          filename: args.filename,
          length,
          ...(typeof args.alt_text === 'string' ? { altText: args.alt_text } : {}),
        });
        return { ok: true, upload_url: `http://127.0.0.1:${this.port}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal': {
        const files = (typeof args.files === 'string' ? parseMaybeJson(args.files) : args.files) as
          | Array<{ id: string; title?: string }>
          | undefined;
        if (!Array.isArray(files) || files.length === 0) return { ok: false, error: 'invalid_arguments' };
        const shared = [];
        for (const f of files) {
          const upload = this.uploads.get(f.id);
          if (!upload?.bytes || upload.bytes.length !== upload.length)
            return { ok: false, error: 'file_not_found' };
          upload.title = f.title;
          if (typeof args.channel_id === 'string') {
            upload.channel = args.channel_id;
            upload.threadTs = typeof args.thread_ts === 'string' ? args.thread_ts : undefined;
            const message = this.store({
              channel: args.channel_id,
              threadTs: upload.threadTs,
              text: String(args.initial_comment ?? ''),
              blocks: [],
              file: { id: upload.id, filename: upload.filename, ...(f.title ? { title: f.title } : {}) },
            });
            this.emit('event', { kind: 'posted', message } satisfies StandinEvent);
          }
          shared.push({ id: upload.id, title: f.title ?? upload.filename });
        }
        return { ok: true, files: shared };
      }
      case 'auth.test':
        return {
          ok: true,
          url: 'https://ferry.slack.com/',
          team: 'ferry',
          user: 'ferry',
          team_id: TEAM,
          user_id: BOT_USER,
          bot_id: 'B0FERRY',
        };
      case 'apps.connections.open':
        return { ok: true, url: `ws://127.0.0.1:${this.port}/socket` };
      case 'chat.postMessage': {
        if (typeof args.channel !== 'string') return { ok: false, error: 'channel_not_found' };
        const message = this.store({
          channel: args.channel,
          threadTs: typeof args.thread_ts === 'string' ? args.thread_ts : undefined,
          text: String(args.text ?? ''),
          blocks: asBlocks(args.blocks),
          ...(String(args.reply_broadcast) === 'true' && typeof args.thread_ts === 'string'
            ? { broadcast: true }
            : {}),
        });
        this.emit('event', { kind: 'posted', message } satisfies StandinEvent);
        return {
          ok: true,
          channel: message.channel,
          ts: message.ts,
          message: { text: message.text, ts: message.ts },
        };
      }
      case 'chat.update': {
        const message = this.messages.find((m) => m.channel === args.channel && m.ts === args.ts);
        if (!message) return { ok: false, error: 'message_not_found' };
        message.text = String(args.text ?? message.text);
        if (args.blocks !== undefined) message.blocks = asBlocks(args.blocks);
        message.edits++;
        this.emit('event', { kind: 'updated', message } satisfies StandinEvent);
        return { ok: true, channel: message.channel, ts: message.ts, text: message.text };
      }
      case 'chat.postEphemeral': {
        const message = this.store({
          channel: String(args.channel),
          visibleTo: String(args.user),
          text: String(args.text ?? ''),
          blocks: asBlocks(args.blocks),
        });
        this.emit('event', { kind: 'ephemeral', message } satisfies StandinEvent);
        return { ok: true, message_ts: message.ts };
      }
      case 'usergroups.users.list': {
        const users = this.options.groups?.[String(args.usergroup)];
        return users ? { ok: true, users } : { ok: false, error: 'no_such_subteam' };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private recordView(method: ViewCall['method'], args: Record<string, unknown>): Record<string, unknown> {
    const view = (typeof args.view === 'string' ? parseMaybeJson(args.view) : args.view) as
      | Record<string, unknown>
      | undefined;
    if (!view || typeof view !== 'object' || !Array.isArray(view.blocks))
      return { ok: false, error: 'invalid_arguments' };
    if (view.blocks.length > 100) return { ok: false, error: 'invalid_blocks' };
    if (method === 'views.publish' && typeof args.user_id !== 'string')
      return { ok: false, error: 'invalid_user' };
    if ((method === 'views.open' || method === 'views.push') && typeof args.trigger_id !== 'string')
      return { ok: false, error: 'invalid_trigger' };
    const previous =
      method === 'views.update' ? this.views.find((v) => v.viewId === args.view_id) : undefined;
    if (method === 'views.update' && !previous) return { ok: false, error: 'not_found' };
    const call: ViewCall = {
      method,
      viewId: previous?.viewId ?? `V${String(this.views.length + 1).padStart(8, '0')}`,
      view,
      ...(typeof args.user_id === 'string' ? { user: args.user_id } : {}),
      ...(typeof args.trigger_id === 'string' ? { triggerId: args.trigger_id } : {}),
    };
    this.views.push(call);
    this.emit('event', { kind: 'view', call } satisfies StandinEvent);
    return { ok: true, view: { id: call.viewId, ...view } };
  }

  /** What Bolt's `respond()` posts: ephemeral by default, in_channel, or replacing the original. */
  private respond(
    target: { channel: string; user: string; messageTs?: string },
    args: Record<string, unknown>,
    responseUrl: string,
  ): void {
    const original = target.messageTs
      ? this.messages.find((m) => m.channel === target.channel && m.ts === target.messageTs)
      : undefined;
    if (original && args.replace_original === true) {
      original.text = String(args.text ?? '');
      original.blocks = asBlocks(args.blocks);
      original.edits++;
      original.responseUrl = responseUrl;
      this.emit('event', { kind: 'updated', message: original } satisfies StandinEvent);
      return;
    }
    const inChannel = args.response_type === 'in_channel';
    const message = this.store({
      channel: target.channel,
      visibleTo: inChannel ? undefined : target.user,
      text: String(args.text ?? ''),
      blocks: asBlocks(args.blocks),
      responseUrl,
    });
    this.emit('event', { kind: inChannel ? 'posted' : 'ephemeral', message } satisfies StandinEvent);
  }

  private store(fields: Omit<StoredMessage, 'ts' | 'edits'>): StoredMessage {
    this.seq++;
    const message: StoredMessage = {
      ...fields,
      ts: `1764000000.${String(this.seq).padStart(6, '0')}`,
      edits: 0,
    };
    this.messages.push(message);
    return message;
  }
}

/** The content of the first part of a multipart/form-data body; the body itself when it is not multipart. */
function firstPart(body: Buffer, contentType: string): Buffer {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!contentType.startsWith('multipart/form-data') || !boundary) return body;
  const marker = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const start = body.indexOf(marker);
  const headersEnd = body.indexOf('\r\n\r\n', start);
  const end = body.indexOf(Buffer.concat([Buffer.from('\r\n'), marker]), headersEnd);
  if (start < 0 || headersEnd < 0 || end < 0) return Buffer.alloc(0);
  return body.subarray(headersEnd + 4, end);
}

function parseMaybeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The Web API client sends forms with JSON-encoded fields; response URLs get JSON. */
function parseBody(raw: string, contentType: string): Record<string, unknown> {
  if (raw.length === 0) return {};
  if (contentType.includes('application/json')) {
    const parsed = parseMaybeJson(raw);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  }
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    args[key] = key === 'blocks' || key === 'attachments' ? parseMaybeJson(value) : value;
  }
  return args;
}

function asBlocks(value: unknown): Array<Record<string, unknown>> {
  const parsed = typeof value === 'string' ? parseMaybeJson(value) : value;
  return Array.isArray(parsed) ? (parsed as Array<Record<string, unknown>>) : [];
}
