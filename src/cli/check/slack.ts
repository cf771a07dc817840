import { z } from 'zod';
import type { SlackConfig } from '../../commands/config.js';
import { readSecret, SECRETS, whereToSet } from '../../engine/secrets.js';
import { attempt, type CheckResult } from './result.js';

/** Slack's Web API, unless SLACK_API_URL names another (GovSlack, a stand-in). */
const SLACK_API_URL = 'https://slack.com/api/';
const TIMEOUT_MS = 10_000;

/** The bot token's scopes ferry uses (manifest.yml), and when each is needed. */
export function neededScopes(slack: SlackConfig): { scope: string; why: string }[] {
  const scopes = [
    { scope: 'commands', why: 'the /ferry command' },
    { scope: 'chat:write', why: 'progress messages, approvals and post-mortems' },
  ];
  // Roles given to user groups (S…) are read with usergroups.users.list.
  if ([...slack.operators, ...slack.approvers].some((m) => m.startsWith('S')))
    scopes.push({ scope: 'usergroups:read', why: 'roles given to user groups' });
  return scopes;
}

const replySchema = z.looseObject({
  ok: z.boolean(),
  error: z.string().optional(),
  team: z.string().optional(),
  user: z.string().optional(),
});

/** One Web API call with a token: its JSON reply and the `x-oauth-scopes` header Slack sends. */
async function call(apiUrl: string, method: string, token: string) {
  const response = await fetch(new URL(method, apiUrl), {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const reply = replySchema.parse(await response.json());
  const scopes = (response.headers.get('x-oauth-scopes') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { reply, scopes, hasScopesHeader: response.headers.has('x-oauth-scopes') };
}

/**
 * The Slack app's tokens as the bot will use them: the bot token with `auth.test` and the scopes
 * Slack lists for it (`x-oauth-scopes`), against what this config needs; in Socket Mode the app
 * token with `apps.connections.open` (it needs `connections:write`; the URL it returns is not
 * opened); in HTTP mode the signing secret's presence (Slack only uses it to sign requests).
 */
export async function checkSlack(slack: SlackConfig, env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  const apiUrl = env.SLACK_API_URL ?? SLACK_API_URL;
  const results: CheckResult[] = [];
  const botToken = readSecret(SECRETS.slackBotToken, env, slack.botToken);
  const bot = { component: 'slack', target: 'bot token' } as const;
  if (!botToken)
    results.push({
      ...bot,
      check: 'auth.test',
      verdict: 'fail',
      detail: `not set: set ${whereToSet(SECRETS.slackBotToken)}`,
    });
  else {
    let scopes: string[] | undefined;
    results.push(
      await attempt({ ...bot, check: 'auth.test' }, async () => {
        const answer = await call(apiUrl, 'auth.test', botToken.value);
        if (!answer.reply.ok)
          return {
            verdict: 'fail',
            detail: `Slack refused the token (from ${botToken.origin}): ${answer.reply.error}`,
          };
        if (answer.hasScopesHeader) scopes = answer.scopes;
        return {
          verdict: 'ok',
          detail: `${answer.reply.user} in ${answer.reply.team} (token from ${botToken.origin})`,
        };
      }),
    );
    if (scopes) {
      const granted = new Set(scopes);
      const missing = neededScopes(slack).filter((n) => !granted.has(n.scope));
      results.push({
        ...bot,
        check: 'scopes',
        ...(missing.length === 0
          ? {
              verdict: 'ok',
              detail: `has ${neededScopes(slack)
                .map((n) => n.scope)
                .join(', ')}`,
            }
          : {
              verdict: 'fail',
              detail: `lacks ${missing.map((m) => `${m.scope} (${m.why})`).join(', ')}; has ${scopes.join(', ') || 'none'}: add them in the app's OAuth settings and reinstall it`,
            }),
      });
    } else if (results.at(-1)?.verdict === 'ok')
      results.push({
        ...bot,
        check: 'scopes',
        verdict: 'fail',
        detail: 'Slack sent no x-oauth-scopes header for the token',
      });
  }
  if (slack.mode === 'socket') {
    const appToken = readSecret(SECRETS.slackAppToken, env, slack.appToken);
    const app = { component: 'slack', target: 'app token', check: 'apps.connections.open' } as const;
    results.push(
      appToken
        ? await attempt(app, async () => {
            const answer = await call(apiUrl, 'apps.connections.open', appToken.value);
            return answer.reply.ok
              ? {
                  verdict: 'ok',
                  detail: `Socket Mode may connect (connections:write; token from ${appToken.origin})`,
                }
              : {
                  verdict: 'fail',
                  detail: `Slack refused the app token (from ${appToken.origin}): ${answer.reply.error}`,
                };
          })
        : {
            ...app,
            verdict: 'fail',
            detail: `not set: set ${whereToSet(SECRETS.slackAppToken)} (slack.mode is socket)`,
          },
    );
  } else {
    const signing = readSecret(SECRETS.slackSigningSecret, env, slack.signingSecret);
    results.push({
      component: 'slack',
      target: 'signing secret',
      check: 'present',
      ...(signing
        ? {
            verdict: 'ok',
            detail: `set (from ${signing.origin}); only Slack's signed requests can tell it is the app's`,
          }
        : {
            verdict: 'fail',
            detail: `not set: set ${whereToSet(SECRETS.slackSigningSecret)} (slack.mode is http)`,
          }),
    });
  }
  return results;
}
