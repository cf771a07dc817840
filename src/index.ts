/**
 * ferry's public surface as a plugin: `mountFerry(app, options)` adds ferry to a Bolt app that an
 * operator team already runs. The engine without Slack is `ferry/engine`.
 */
export {
  type CommandContext,
  type Ferry,
  type FerryOptions,
  mountFerry,
} from './commands/app.js';
export { type SlackConfig, slackConfigSchema } from './commands/config.js';
export {
  checkRequestTimestamp,
  ENVELOPE_ID_PROPERTY,
  guardRequests,
  socketModeEnvelope,
  verifyRequestTimestamp,
} from './commands/verify.js';
export { AuthError, ConfigError, type ErrorCode, FerryError, TimeoutError } from './engine/errors.js';
