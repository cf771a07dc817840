import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { AuthError } from '../engine/errors.js';

/**
 * Bolt refuses a signed request older than 5 minutes but accepts one from the future, so a
 * captured request signed with a timestamp an hour ahead stays replayable for that hour. This is
 * the other half of the window. The standalone bot installs it in front of Bolt's HTTP receiver;
 * a host bot, which owns its receiver, installs `verifyRequestTimestamp` itself.
 */

/** How far from now Slack's request timestamp may be, either way (Slack's own rule is 5 minutes). */
export const MAX_CLOCK_SKEW_S = 5 * 60;

/** Throws an AuthError unless `x-slack-request-timestamp` is a number within 5 minutes of `nowMs`. */
export function checkRequestTimestamp(headers: IncomingHttpHeaders, nowMs = Date.now()): void {
  const raw = headers['x-slack-request-timestamp'];
  const timestamp = Number(Array.isArray(raw) ? raw[0] : raw);
  if (!Number.isFinite(timestamp)) throw new AuthError('the request has no x-slack-request-timestamp');
  const skew = timestamp - nowMs / 1000;
  if (skew > MAX_CLOCK_SKEW_S)
    throw new AuthError(`the request is timestamped ${Math.round(skew)} s in the future; refused`);
  if (skew < -MAX_CLOCK_SKEW_S)
    throw new AuthError(`the request is timestamped ${Math.round(-skew)} s ago; refused as stale`);
}

/**
 * The check as HTTP middleware: answers 401 to a signed request outside the window, else calls `next`.
 * Express-style (`app.use(verifyRequestTimestamp)` before Bolt's ExpressReceiver router), or
 * around Bolt's HTTPReceiver: `receiver.requestListener = guardRequests(receiver.requestListener)`.
 */
export function verifyRequestTimestamp(req: IncomingMessage, res: ServerResponse, next: () => void): void {
  // Unsigned requests (health checks, OAuth redirects) are not Slack's events; Bolt refuses
  // unsigned events by itself.
  if (req.headers['x-slack-signature'] === undefined) {
    next();
    return;
  }
  try {
    checkRequestTimestamp(req.headers);
  } catch (err) {
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end(err instanceof AuthError ? err.userMessage : 'refused');
    return;
  }
  next();
}

/** Wraps a request listener (Bolt's HTTPReceiver.requestListener) with the timestamp check. */
export function guardRequests(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => verifyRequestTimestamp(req, res, () => listener(req, res));
}

/** The context property under which ferry finds a Socket Mode request's envelope id. */
export const ENVELOPE_ID_PROPERTY = 'ferryEnvelopeId';

/**
 * Socket Mode redelivers an envelope whose ack it did not see in time (same `envelope_id`); Bolt
 * hands listeners the payload only. Installed as the SocketModeReceiver's
 * `customPropertiesExtractor`, this puts the envelope id in each listener's context, so ferry acts
 * on an envelope once across bot processes:
 * `new SocketModeReceiver({ appToken, customPropertiesExtractor: socketModeEnvelope })`.
 * A host with an extractor of its own spreads both: `(args) => ({ ...mine(args), ...socketModeEnvelope(args) })`.
 */
export function socketModeEnvelope(args: unknown): Record<string, string> {
  const id = (args as { envelope_id?: unknown } | null)?.envelope_id;
  return typeof id === 'string' && id.length > 0 ? { [ENVELOPE_ID_PROPERTY]: id } : {};
}
