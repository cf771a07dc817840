import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';
import { hideSecret } from './redact.js';

/**
 * Where ferry's secrets come from. Each may be set in the environment (`NAME`), in a file whose
 * path is in the environment (`NAME_FILE`, as container platforms mount secrets), or in the
 * config file, in that order: the first one set wins. Every value found is registered with
 * redact(), so no message, log line or `ferry check` output can show it, whatever quotes it.
 */

export type SecretSource = 'env' | 'file' | 'config';

export interface Secret {
  value: string;
  source: SecretSource;
  /** Where exactly, for people: `SLACK_BOT_TOKEN`, `SLACK_BOT_TOKEN_FILE=/run/secrets/bot`, `slack.botToken`. */
  origin: string;
}

/** One secret ferry reads: its environment variable and where it sits in the config. */
export interface SecretSpec {
  env: string;
  /** Dotted path in the config file, for messages (`redis.password`). */
  config: string;
}

/** Every secret ferry takes, by what it is. */
export const SECRETS = {
  slackBotToken: { env: 'SLACK_BOT_TOKEN', config: 'slack.botToken' },
  slackAppToken: { env: 'SLACK_APP_TOKEN', config: 'slack.appToken' },
  slackSigningSecret: { env: 'SLACK_SIGNING_SECRET', config: 'slack.signingSecret' },
  redisPassword: { env: 'FERRY_REDIS_PASSWORD', config: 'redis.password' },
  novaPassword: { env: 'FERRY_NOVA_PASSWORD', config: 'nova.auth.password' },
  novaApplicationCredentialSecret: {
    env: 'FERRY_NOVA_APPLICATION_CREDENTIAL_SECRET',
    config: 'nova.auth.secret',
  },
  sshKeyPassphrase: { env: 'FERRY_SSH_KEY_PASSPHRASE', config: 'ssh.privateKeyPassphrase' },
} as const satisfies Record<string, SecretSpec>;

/**
 * Reads one secret: the environment, then the `_FILE` it names, then `configValue`. A file is
 * read whole with one trailing newline dropped (`echo x > file`); an unreadable or empty one is
 * a ConfigError naming the variable and the path, never the content.
 */
export function readSecret(
  spec: SecretSpec,
  env: NodeJS.ProcessEnv,
  configValue?: unknown,
): Secret | undefined {
  const fromEnv = env[spec.env];
  if (fromEnv) return found({ value: fromEnv, source: 'env', origin: spec.env });
  const fileVar = `${spec.env}_FILE`;
  const path = env[fileVar];
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `${fileVar}=${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
        { cause: err },
      );
    }
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new ConfigError(`${fileVar}=${path} is empty; it should hold the secret`);
    return found({ value, source: 'file', origin: `${fileVar}=${path}` });
  }
  if (typeof configValue === 'string' && configValue !== '')
    return found({ value: configValue, source: 'config', origin: spec.config });
  return undefined;
}

function found(secret: Secret): Secret {
  hideSecret(secret.value);
  return secret;
}

/** Words for "where to set it", for a message about a missing secret. */
export function whereToSet(spec: SecretSpec): string {
  return `${spec.env}, ${spec.env}_FILE or ${spec.config}`;
}

type Raw = Record<string, unknown>;

const isObject = (value: unknown): value is Raw =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The config file's parsed YAML with the engine's secrets filled in from the environment (Redis
 * password, Nova password or application-credential secret, SSH key passphrase), before it is
 * validated. Slack's tokens belong to the Slack surface, which reads them itself (readSecret).
 * Whatever is not an object is left for validation to refuse.
 */
export function withSecrets(raw: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!isObject(raw)) return raw;
  const config: Raw = { ...raw };
  const redis = config.redis === undefined || config.redis === null ? {} : config.redis;
  if (isObject(redis)) {
    const password = readSecret(SECRETS.redisPassword, env, redis.password);
    // The URL's own userinfo stays the config's last word when nothing else sets a password.
    if (password) config.redis = { ...redis, password: password.value };
    else if (typeof redis.url === 'string') hideUrlPassword(redis.url);
  }
  if (isObject(config.nova) && isObject(config.nova.auth)) {
    const auth = config.nova.auth;
    const field = auth.type === 'application_credential' ? 'secret' : 'password';
    const spec = field === 'secret' ? SECRETS.novaApplicationCredentialSecret : SECRETS.novaPassword;
    const secret = readSecret(spec, env, auth[field]);
    if (secret) config.nova = { ...config.nova, auth: { ...auth, [field]: secret.value } };
  }
  if (isObject(config.ssh)) {
    const passphrase = readSecret(SECRETS.sshKeyPassphrase, env, config.ssh.privateKeyPassphrase);
    if (passphrase) config.ssh = { ...config.ssh, privateKeyPassphrase: passphrase.value };
  }
  return config;
}

/** A password inside a redis:// URL is a secret too. */
function hideUrlPassword(url: string): void {
  try {
    const password = new URL(url).password;
    if (password) hideSecret(decodeURIComponent(password));
  } catch {
    // Not a URL: validation refuses it.
  }
}
