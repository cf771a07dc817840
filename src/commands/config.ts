import { z } from 'zod';
import { bounded, LIMITS } from '../engine/config.js';

/**
 * The `slack:` section of ferry's config, validated by the Slack surface when the bot starts (the
 * engine keeps it opaque). Tokens are better kept out of the file: SLACK_BOT_TOKEN,
 * SLACK_APP_TOKEN and SLACK_SIGNING_SECRET (or a `_FILE` each names) come first (secrets.ts).
 */

/** A Slack user id (U…/W…) or user-group id (S…). */
const member = z.string().regex(/^[UWS][A-Z0-9]{2,20}$/, 'a Slack user id (U… or W…) or user-group id (S…)');
const channel = z.string().regex(/^[CGD][A-Z0-9]{2,20}$/, 'a Slack channel id (C…, G… or D…)');

export const slackConfigSchema = z.strictObject({
  /** Socket Mode needs no public URL (the default for a datacenter bot); http needs the signing secret. */
  mode: z.enum(['socket', 'http']).default('socket'),
  /** HTTP mode's listening port. */
  port: bounded({ ...LIMITS.port, min: 0 }).default(3000),
  /** May plan, evacuate, migrate, run campaigns, pause, resume and abort. */
  operators: z.array(member).default([]),
  /** May approve or reject risky switchovers (never their own request). */
  approvers: z.array(member).default([]),
  /** Where live progress messages and post-mortems go. */
  progressChannel: channel,
  /** Where approval requests go; the progress channel when absent. */
  approversChannel: channel.optional(),
  /** At most one chat.update per message this often (latest state wins in between). */
  updateIntervalS: bounded(LIMITS.intervalS).default(3),
  /** Workspace-wide chat.update budget: Slack's Tier 3 allows about 50 a minute. */
  updatesPerMinute: bounded({
    ...LIMITS.concurrency,
    max: 50,
    why: "Slack's Tier 3 allows about 50 a minute",
  }).default(45),
  /**
   * Commands and button clicks one person may send: `burst` at once, refilled at `perMinute`,
   * shared by every bot process through Redis (see rate-limit.ts).
   */
  rateLimit: z
    .strictObject({
      burst: bounded({ ...LIMITS.concurrency, max: 1000, why: 'nobody clicks faster' }).default(10),
      perMinute: bounded({ ...LIMITS.concurrency, max: 6000, why: 'a hundred a second' }).default(30),
    })
    .default({ burst: 10, perMinute: 30 }),
  /** The secrets, when neither the environment nor a file gives them (see above). */
  botToken: z.string().min(1).optional(),
  appToken: z.string().min(1).optional(),
  signingSecret: z.string().min(1).optional(),
  /** How long a user group's membership is cached before asking Slack again. */
  groupCacheS: bounded(LIMITS.durationS).default(300),
});

export type SlackConfig = z.infer<typeof slackConfigSchema>;
