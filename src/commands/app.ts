import { type App, webApi } from '@slack/bolt';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { type Clock, systemClock } from '../engine/clock.js';
import {
  checkConfig,
  createDriver,
  createDurableEngine,
  type FerryConfig,
  loadConfig,
} from '../engine/compose.js';
import { parseSection } from '../engine/config.js';
import type { Driver } from '../engine/drivers/driver.js';
import { AuthError, ConfigError, toFerryError } from '../engine/errors.js';
import { type Log, type StructuredLogger, structuredLog } from '../engine/log.js';
import { FerryMetrics } from '../engine/metrics.js';
import type { FerryEvent } from '../engine/model.js';
import type { AuditEntry, FerryService } from '../engine/ports.js';
import { redact } from '../engine/redact.js';
import type { RedisClient } from '../engine/store/redis/index.js';
import type { Block } from '../views/blocks.js';
import { homeView } from '../views/home.js';
import { VIEW } from '../views/modal.js';
import { type PostMortemView, reportView } from '../views/postmortem.js';
import { noteMessage } from '../views/replies.js';
import { DEFAULT_COMMAND } from '../views/usage.js';
import { ApprovalNotifier } from './approvals.js';
import { boltLogger } from './bolt-logger.js';
import { postChart } from './chart.js';
import { type SlackConfig, slackConfigSchema } from './config.js';
import { submitEvacuateConfirm, submitEvacuateForm } from './evacuate-modal.js';
import { type Reply, runAction, runCommand, type SurfaceDeps } from './handlers.js';
import { currentHome } from './home.js';
import { RedisKeyValueStore } from './kv.js';
import { SlackOutbox } from './outbox.js';
import { ProgressPublisher } from './progress.js';
import { RateLimiter, slowDown } from './rate-limit.js';
import { ferryRedis } from './redis.js';
import { ReplayGuard } from './replays.js';
import { Roles } from './roles.js';
import { ENVELOPE_ID_PROPERTY } from './verify.js';

/**
 * `mountFerry(app, options)`: ferry inside a Bolt app that someone else owns. It registers ferry's
 * command (or none, for a host that routes `/ops ferry …` to `handleCommand`) and one action
 * listener that matches only `ferry.` ids (Bolt runs every listener that matches, so a catch-all
 * would answer, and over HTTP ack, the host's own buttons). It writes through the host's token
 * with its own paced client, keeps its state in Redis over its own connection, and starts its
 * loops (live progress, approval requests) now and stops them with the host's `app.stop()`.
 * One workspace: the app must have a bot token (`new App({ token })`); an `authorize`-based,
 * multi-workspace app is not supported.
 */

/** A Slack slash command as configured in the app manifest. */
const commandName = z.string().regex(/^\/[a-z0-9_.-]{1,31}$/, 'a slash command such as /ferry');

const optionsSchema = z.strictObject({
  /** ferry's config: a file path, or the parsed config (see src/engine/compose.ts). */
  config: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
  /** The `slack:` section, when it is not in the config (channels, roles, pacing). */
  slack: z.record(z.string(), z.unknown()).optional(),
  redis: z.union([z.string(), z.custom<RedisClient>((v) => typeof v === 'object' && v !== null)]),
  /** `/ferry` by default; `false` registers none (the host calls `handleCommand`). */
  command: z.union([commandName, z.literal(false)]).default(DEFAULT_COMMAND),
  /** How users type ferry's command in messages, e.g. `/ops ferry` for a routed command. */
  invokedAs: z
    .string()
    .regex(/^\/[a-z0-9_.-]{1,31}( [a-z0-9_.-]{1,31})?$/, 'a command such as /ops ferry')
    .optional(),
  /** Run evacuations in this process (default), or leave them to `ferry-worker` processes. */
  worker: z.boolean().default(true),
  /** An engine you built instead of ferry's durable one from `config` (tests, the demo). */
  service: z.custom<FerryService>((v) => typeof v === 'object' && v !== null).optional(),
  timezone: z.string().min(1).optional(),
  maintenance: z.boolean().optional(),
  /** The post-mortem; ferry's own when absent. */
  report: z
    .custom<(events: FerryEvent[], audit?: AuditEntry[]) => PostMortemView>((v) => typeof v === 'function')
    .optional(),
  /** Engine time (an accelerated clock in the demo). */
  now: z.custom<() => number>((v) => typeof v === 'function').optional(),
  /** How often event streams are read, ms. */
  pollMs: z.number().int().positive().default(500),
  stopGraceMs: z.number().int().positive().max(600_000).default(5000),
  log: z.custom<Log>((v) => typeof v === 'function').optional(),
  /** A pino-style logger (info/warn/error with fields and a message): ferry logs JSON through it. */
  logger: z
    .custom<StructuredLogger>(
      (v) =>
        typeof v === 'object' &&
        v !== null &&
        ['info', 'warn', 'error'].every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
      'a logger with info, warn and error methods (pino, or one like it)',
    )
    .optional(),
  /** Publish ferry's own App Home on app_home_opened (an app has one Home tab: opt-in). */
  home: z.boolean().default(false),
});

/** What a host passes to `mountFerry` (checked at run time too: JavaScript hosts have no compiler). */
export interface FerryOptions {
  /** ferry's config: a file path, or the parsed config; needed unless `service` is given. */
  config?: string | FerryConfig;
  /** The `slack:` section (channels, roles, pacing) when it is not in the config. */
  slack?: Record<string, unknown>;
  /** The host's ioredis client (ferry opens its own duplicate) or a redis:// URL. */
  redis: RedisClient | string;
  /** The slash command to register, `/ferry` by default; `false` for none (call `handleCommand`). */
  command?: string | false;
  /** How users type ferry's command, for messages: e.g. `/ops ferry` when the host routes it. */
  invokedAs?: string;
  /** Run evacuations in this process (default), or leave them to `ferry-worker` processes. */
  worker?: boolean;
  /** An engine built elsewhere instead of ferry's durable one from `config` (tests, the demo). */
  service?: FerryService;
  /** IANA zone for times in messages; the config's, else UTC. */
  timezone?: string;
  /** Whether evacuations run the configured maintenance command; the config says by default. */
  maintenance?: boolean;
  /** The post-mortem view; ferry's own when absent. */
  report?: (events: FerryEvent[]) => PostMortemView;
  /** Engine time (an accelerated clock in the demo). */
  now?: () => number;
  /** How often event streams are read, ms (default 500). */
  pollMs?: number;
  /**
   * How long `stop()` waits for ferry's loops before it drops what is queued for Slack and closes
   * Redis, ms (default 5000): stop returns within about twice this, even with Redis down.
   */
  stopGraceMs?: number;
  /** ferry's log lines (with fields: evacuationId, migrationId, level); stderr text by default. */
  log?: Log;
  /**
   * The host's logger (pino, or any with info/warn/error taking fields and a message): ferry logs
   * structured lines through it, ids as fields, credentials redacted. Takes precedence over `log`.
   */
  logger?: StructuredLogger;
  /**
   * Publish ferry's own App Home when someone opens the app's Home tab (default false: an app
   * has one Home and views.publish replaces it, so a host with its own Home composes
   * `ferry.homeBlocks()` into it instead).
   */
  home?: boolean;
}

/** What a host passes to `handleCommand`: who typed it, and Bolt's `respond` for the answers. */
export interface CommandContext {
  userId: string;
  respond: (message: ReturnType<typeof toResponse>) => Promise<unknown>;
  /** The command's trigger_id: a replay of the same request then acts at most once. */
  triggerId?: string;
  /**
   * Socket Mode: the envelope it came in, `context.ferryEnvelopeId` when the receiver has
   * `customPropertiesExtractor: socketModeEnvelope`; a redelivered envelope then acts at most once.
   */
  envelopeId?: string;
}

export interface Ferry {
  /** The registered command, or undefined when the host routes to `handleCommand`. */
  command?: string;
  /** Runs ferry's command text (what follows `/ferry`) for a host that routes it; ack first. */
  handleCommand(text: string, context: CommandContext): Promise<void>;
  service: FerryService;
  progress: ProgressPublisher;
  outbox: SlackOutbox;
  /**
   * ferry's Prometheus metrics, a prom-client Registry of its own (not the global one): serve
   * `await ferry.metrics.metrics()` with `ferry.metrics.contentType`, or merge it into yours.
   */
  metrics: Registry;
  /** ferry's App Home blocks as they stand now (at most HOME_BLOCKS), for a host composing its own Home. */
  homeBlocks(): Promise<Block[]>;
  /** Stops ferry's loops, writes what is queued, closes ferry's connections. Idempotent. */
  stop(): Promise<void>;
}

/** How long a request's trigger_id and envelope id are remembered: well past Slack's retries and its 5-minute signature window. */
const REPLAY_TTL_MS = 60 * 60_000;

/** Mounts ferry on `app`; rejects with a FerryError (ConfigError, AuthError, TimeoutError), never exits. */
export async function mountFerry(app: App, input: FerryOptions): Promise<Ferry> {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`mountFerry: ${issue.path.join('.') || 'options'}: ${issue.message}`);
  }
  const options = parsed.data as typeof parsed.data &
    Pick<FerryOptions, 'service' | 'report' | 'now' | 'log' | 'logger'>;
  const log = ferryLog(options);
  const metrics = new FerryMetrics(log);
  const config = loadOptionalConfig(options.config);
  if (!options.service && !config)
    throw new ConfigError('mountFerry: give `config` (a file path or parsed config) or a `service`');
  const slack = parseSection(
    slackConfigSchema,
    options.slack ?? config?.slack,
    typeof options.config === 'string' ? options.config : 'mountFerry options',
    'slack',
  );
  const token = app.client.token;
  if (!token)
    throw new ConfigError(
      'mountFerry: the app has no bot token; ferry needs a single-workspace app (new App({ token })), not an authorize-based one',
    );
  await checkToken(app.client);

  const redis = await ferryRedis(options.redis, log);
  const timezone = options.timezone ?? config?.timezone ?? 'UTC';
  const invokedAs = options.invokedAs ?? (options.command === false ? DEFAULT_COMMAND : options.command);
  let engine: { service: FerryService; close(): Promise<void> };
  try {
    engine = options.service
      ? { service: options.service, close: async () => {} }
      : await durableEngine(config!, redis, options.worker, systemClock, log, metrics);
  } catch (err) {
    redis.disconnect();
    throw toFerryError(err);
  }
  const ferry = assemble(app, {
    slack,
    token,
    service: engine.service,
    redis,
    timezone,
    maintenance: options.maintenance ?? config?.maintenance.command !== undefined,
    command: options.command === false ? undefined : options.command,
    invokedAs,
    report:
      options.report ?? ((events, audit) => reportView(events, { timezone, command: invokedAs }, audit)),
    now: options.now ?? (() => Date.now()),
    pollMs: options.pollMs,
    home: options.home,
    log,
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const graceful = (async () => {
        await ferry.stopLoops();
        await engine.close();
      })().catch((err: unknown) => log(`stop: ${toFerryError(err).message}`, { level: 'warn' }));
      // Every Redis command waits for Redis to come back (maxRetriesPerRequest: null): with
      // Redis down, a poll in flight, a flush or a worker's step would hold stop for ever.
      // After the grace period what is queued for Slack is dropped and the connection closed,
      // which fails every command still waiting, so the loops end at once.
      const inTime = await settlesWithin(graceful, options.stopGraceMs);
      if (!inTime)
        log(
          `stop: ferry's loops did not finish within ${options.stopGraceMs} ms (is Redis or Slack unreachable?); closing without waiting`,
          { level: 'warn' },
        );
      ferry.api.outbox.stop();
      redis.disconnect();
      if (!inTime && !(await settlesWithin(graceful, options.stopGraceMs)))
        log('stop: left unfinished work behind (its job goes back to the queue when its lock expires)', {
          level: 'warn',
        });
    })();
    return stopping;
  };
  // Stopped with the host: its app.stop() first stops ferry's loops and flushes the outbox.
  const hostStop = app.stop.bind(app);
  app.stop = async (...args: Parameters<App['stop']>) => {
    await stop();
    return hostStop(...args);
  };
  return { ...ferry.api, metrics: metrics.registry, stop };
}

/** Whether `work` settles within `ms` (its own outcome is the caller's: this only waits). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The Log the options ask for: the host's structured logger, its line function, or text on stderr. */
export function ferryLog(options: Pick<FerryOptions, 'log' | 'logger'>): Log {
  if (options.logger) return structuredLog(options.logger);
  return options.log ?? ((line: string) => console.error(`ferry: ${redact(line)}`));
}

/** The config from a file, or checked like one when a host passes it as an object (a host has no compiler). */
function loadOptionalConfig(config: string | Record<string, unknown> | undefined): FerryConfig | undefined {
  if (config === undefined) return undefined;
  if (typeof config === 'string') return loadConfig(config);
  return checkConfig(config, 'mountFerry options.config');
}

/** `auth.test` with the app's token, so a wrong token is one clear error at mount, not a crash later. */
async function checkToken(client: webApi.WebClient): Promise<void> {
  try {
    await client.auth.test();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    throw new AuthError(
      code
        ? `Slack refused the bot token (${code}): check SLACK_BOT_TOKEN or the token the app was built with`
        : `cannot reach Slack to check the bot token: ${toFerryError(err).message}`,
      { cause: err },
    );
  }
}

/**
 * ferry's durable engine on its Redis connection, with a worker in this process unless told
 * otherwise. Without one the bot builds no driver (so it needs none of the driver's config or
 * credentials): it plans on the fleet the ferry-worker processes publish in Redis.
 * A keyspace a newer ferry wrote is refused before anything runs (SchemaVersionError).
 */
async function durableEngine(
  config: FerryConfig,
  redis: RedisClient,
  worker: boolean,
  clock: Clock,
  log: Log,
  metrics: FerryMetrics,
): Promise<{ service: FerryService; close(): Promise<void> }> {
  const driver: Driver | undefined = worker ? createDriver(config, clock) : undefined;
  const engine = createDurableEngine({ config, driver, clock, redis, via: 'slack', log, metrics });
  const close = async () => {
    await engine.close();
    await driver?.close();
  };
  await engine.prepare().catch(async (err: unknown) => {
    await close();
    throw err;
  });
  if (worker) engine.startWorker();
  return { service: engine.service, close };
}

interface Parts {
  slack: SlackConfig;
  token: string;
  service: FerryService;
  redis: RedisClient;
  timezone: string;
  maintenance: boolean;
  command?: string;
  invokedAs: string;
  report: (events: FerryEvent[], audit?: AuditEntry[]) => PostMortemView;
  now: () => number;
  pollMs: number;
  log: Log;
  home: boolean;
}

/** Slack's `respond` payload for a reply. */
function toResponse(reply: Reply) {
  return {
    text: reply.message.text,
    blocks: reply.message.blocks,
    response_type: reply.inChannel ? ('in_channel' as const) : ('ephemeral' as const),
    ...(reply.replaceOriginal ? { replace_original: true } : {}),
  };
}

/** Builds ferry's parts over the host's app and registers its listeners. */
function assemble(app: App, parts: Parts) {
  const { slack, service, log, now, report } = parts;
  // A client of its own on the host's token: rate-limited calls throw instead of pausing the
  // host's shared queue.
  const writer = new webApi.WebClient(parts.token, {
    slackApiUrl: app.client.slackApiUrl,
    rejectRateLimitedCalls: true,
    retryConfig: { retries: 2, minTimeout: 200, maxTimeout: 1000 },
    // Its complaints (which may quote a request) go through ferry's redacting log.
    logger: boltLogger(log, webApi.LogLevel.ERROR),
    logLevel: webApi.LogLevel.ERROR,
  });
  const outbox = new SlackOutbox(writer, {
    minUpdateIntervalMs: slack.updateIntervalS * 1000,
    updatesPerMinute: slack.updatesPerMinute,
    log,
  });
  const kv = new RedisKeyValueStore(parts.redis);
  const approvals = new ApprovalNotifier({
    service,
    outbox,
    kv,
    channel: slack.approversChannel ?? slack.progressChannel,
    timezone: parts.timezone,
    approvers: slack.approvers,
    now,
  });
  const progress = new ProgressPublisher({
    service,
    outbox,
    kv,
    approvals,
    channel: slack.progressChannel,
    timezone: parts.timezone,
    approvers: slack.approvers,
    command: parts.invokedAs,
    now,
    report,
    chart: (target, evacuation, events) => postChart(writer, target, evacuation, events),
    pollMs: parts.pollMs,
    log,
  });
  const roles = new Roles(
    { operators: slack.operators, approvers: slack.approvers, groupCacheMs: slack.groupCacheS * 1000 },
    {
      members: async (group) => (await app.client.usergroups.users.list({ usergroup: group })).users ?? [],
    },
    systemClock,
  );
  const deps: SurfaceDeps = {
    service,
    roles,
    command: parts.invokedAs,
    timezone: parts.timezone,
    now,
    maintenance: parts.maintenance,
    follow: (id) => progress.follow(id),
    followCampaign: (id) => progress.followCampaign(id),
    tellThread: (id, markdown) => progress.tellThread(id, markdown),
    openView: async (triggerId, view) => {
      await writer.views.open({ trigger_id: triggerId, view: view as never });
    },
    showDecision: (request) => approvals.decided(request),
    report: (events, audit) => report(events, audit).message,
    progressChannel: slack.progressChannel,
    log,
  };
  /** True the first time a request is seen, across processes (replays.ts). */
  const replays = new ReplayGuard(kv, parts.redis, REPLAY_TTL_MS, log);
  const firstDelivery = (request: { triggerId?: string; envelopeId?: string }) => replays.first(request);
  const envelopeOf = (context: Record<string, unknown>) => {
    const id = context[ENVELOPE_ID_PROPERTY];
    return typeof id === 'string' ? id : undefined;
  };

  // Counted in this process while Redis is away (rate-limit.ts): never waived.
  const limiter = new RateLimiter(parts.redis, slack.rateLimit, { log });
  /** One person's requests past their rate get a private "slow down" and nothing else. */
  const withinRate = async (user: string, tell: (reply: Reply) => Promise<unknown>) => {
    const verdict = await limiter.take(user);
    if (verdict.allowed) return true;
    await tell({ message: noteMessage(slowDown(slack.rateLimit, verdict.retryAfterMs)) }).catch((err) =>
      log(`reply to a rate-limited request failed: ${String(err)}`),
    );
    return false;
  };

  const handleCommand = async (text: string, context: CommandContext) => {
    if (!(await firstDelivery(context))) return;
    if (!(await withinRate(context.userId, (reply) => context.respond(toResponse(reply))))) return;
    await runCommand({ user: context.userId, text, triggerId: context.triggerId }, deps, async (reply) => {
      await context
        .respond(toResponse(reply))
        .catch((err) => log(`reply to ${parts.invokedAs} failed: ${String(err)}`));
    });
  };

  if (parts.command) {
    app.command(parts.command, async ({ command, ack, respond, context }) => {
      // Slack wants the ack within 3 s; everything slow comes after it.
      await ack();
      await handleCommand(command.text ?? '', {
        userId: command.user_id,
        respond,
        triggerId: command.trigger_id,
        envelopeId: envelopeOf(context),
      });
    });
  }

  // ferry's buttons only: every id it sends starts with `ferry.`; a forged `ferry.` id is still
  // answered (and changes nothing), anything else is the host's and ferry never sees it.
  app.action(
    { type: 'block_actions', action_id: /^ferry\./ },
    async ({ ack, body, action, respond, context }) => {
      await ack();
      if (!(await firstDelivery({ triggerId: body.trigger_id, envelopeId: envelopeOf(context) }))) return;
      if (!(await withinRate(body.user.id, (reply) => respond(toResponse(reply))))) return;
      const { action_id: actionId, value } = action as { action_id: string; value?: unknown };
      await runAction({ user: body.user.id, actionId, value }, deps, async (reply) => {
        await respond(toResponse(reply)).catch((err) => log(`reply to a button failed: ${String(err)}`));
      });
    },
  );

  // The evacuate modal's two steps: ferry's callback ids only, acked with errors or the next view.
  app.view(VIEW.form, async ({ ack, body, view }) => {
    await ack(await submitEvacuateForm(deps, body.user.id, view));
  });
  app.view(VIEW.confirm, async ({ ack, body, view }) => {
    await ack(await submitEvacuateConfirm(deps, body.user.id, view));
  });

  const homeBlocks = () =>
    currentHome(service, { now: now(), timezone: parts.timezone, command: parts.invokedAs });
  if (parts.home) {
    app.event('app_home_opened', async ({ event }) => {
      if (event.tab !== 'home') return;
      try {
        await writer.views.publish({ user_id: event.user, view: homeView(await homeBlocks()) });
      } catch (err) {
        log(`App Home for ${event.user} not published: ${toFerryError(err).message}`);
      }
    });
  }

  progress.start();
  return {
    api: { command: parts.command, handleCommand, service, progress, outbox, homeBlocks },
    async stopLoops() {
      await progress.stop();
      await outbox.idle();
      outbox.stop();
    },
  };
}
