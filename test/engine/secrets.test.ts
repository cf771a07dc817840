import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slackConfigSchema } from '../../src/commands/config.js';
import { slackTokens } from '../../src/commands/standalone.js';
import { checkConfig, parseConfig } from '../../src/engine/compose.js';
import { redact } from '../../src/engine/redact.js';
import { readSecret, SECRETS } from '../../src/engine/secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-secrets-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('readSecret', () => {
  it('takes the environment, then the _FILE, then the config, and hides what it read', () => {
    const spec = SECRETS.redisPassword;
    const path = file('redis', 'from-the-file-5\n');
    expect(
      readSecret(spec, { FERRY_REDIS_PASSWORD: 'from-the-env-4', FERRY_REDIS_PASSWORD_FILE: path }, 'c'),
    ).toEqual({
      value: 'from-the-env-4',
      source: 'env',
      origin: 'FERRY_REDIS_PASSWORD',
    });
    expect(readSecret(spec, { FERRY_REDIS_PASSWORD_FILE: path }, 'from-the-config-6')).toEqual({
      value: 'from-the-file-5',
      source: 'file',
      origin: `FERRY_REDIS_PASSWORD_FILE=${path}`,
    });
    expect(readSecret(spec, {}, 'from-the-config-6')?.source).toBe('config');
    expect(readSecret(spec, {}, undefined)).toBeUndefined();
    expect(redact('x from-the-env-4 from-the-file-5 from-the-config-6')).toBe('x *** *** ***');
  });
});

describe('the bot’s Slack tokens', () => {
  const socket = slackConfigSchema.parse({ progressChannel: 'C0OPS' });
  const http = slackConfigSchema.parse({ mode: 'http', progressChannel: 'C0OPS' });

  it('come from the environment, a _FILE or the slack: section, each of them', () => {
    expect(slackTokens({ SLACK_BOT_TOKEN: 'xoxb-env', SLACK_APP_TOKEN: 'xapp-env' }, socket)).toMatchObject({
      botToken: 'xoxb-env',
      appToken: 'xapp-env',
    });
    const files = {
      SLACK_BOT_TOKEN_FILE: file('bot', 'xoxb-file\n'),
      SLACK_SIGNING_SECRET_FILE: file('signing', 'signing-file\n'),
    };
    expect(slackTokens(files, http)).toMatchObject({ botToken: 'xoxb-file', signingSecret: 'signing-file' });
    const inConfig = { ...http, botToken: 'xoxb-config', signingSecret: 'signing-config' };
    expect(slackTokens({}, inConfig)).toMatchObject({
      botToken: 'xoxb-config',
      signingSecret: 'signing-config',
    });
  });

  it('name every place a missing one may be set', () => {
    expect(() => slackTokens({ SLACK_BOT_TOKEN: 'xoxb-env' }, socket)).toThrow(
      'set SLACK_APP_TOKEN, SLACK_APP_TOKEN_FILE or slack.appToken (slack.mode is socket)',
    );
  });
});

describe('config secrets', () => {
  const nova = (auth: string) =>
    `fleet: { driver: nova }\nnova:\n  authUrl: https://keystone.example.com/v3\n  auth: { ${auth} }\n`;

  it('fill the Nova password or application-credential secret and the SSH passphrase before validation', () => {
    const password = parseConfig(nova('type: password, username: ferry, projectName: ops'), 'f.yaml', {
      FERRY_NOVA_PASSWORD: 'nova-env-pw',
    });
    expect(password.nova?.auth).toMatchObject({ password: 'nova-env-pw' });
    const secret = parseConfig(nova('type: application_credential, id: abc'), 'f.yaml', {
      FERRY_NOVA_APPLICATION_CREDENTIAL_SECRET_FILE: file('app', 'app-file-secret\n'),
    });
    expect(secret.nova?.auth).toMatchObject({ secret: 'app-file-secret' });
  });

  it('fill a config a host passes to mountFerry as an object the same way, the environment first', () => {
    const raw = {
      fleet: { driver: 'nova' },
      nova: {
        authUrl: 'https://keystone.example.com/v3',
        auth: { type: 'password', username: 'ferry', projectName: 'ops', password: 'object-pw' },
      },
    };
    expect(checkConfig(raw, 'options.config', {}).nova?.auth).toMatchObject({ password: 'object-pw' });
    const fromEnv = checkConfig(raw, 'options.config', { FERRY_NOVA_PASSWORD: 'nova-env-pw-2' });
    expect(fromEnv.nova?.auth).toMatchObject({ password: 'nova-env-pw-2' });
    expect(() => checkConfig({ fleet: { driver: 'vmware' } }, 'options.config', {})).toThrow(
      /^options\.config/,
    );
  });

  it('say where to set one that is nowhere', () => {
    expect(() =>
      parseConfig(nova('type: password, username: ferry, projectName: ops'), 'f.yaml', {}),
    ).toThrow(
      'nova.auth.password: the password is not set: set FERRY_NOVA_PASSWORD, FERRY_NOVA_PASSWORD_FILE or nova.auth.password',
    );
  });
});
