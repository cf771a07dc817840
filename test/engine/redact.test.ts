import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DriverUnreachableError, toFerryError } from '../../src/engine/errors.js';
import { redact } from '../../src/engine/redact.js';
import { startBot } from '../../src/main.js';
import { type RedisServer, startRedis } from '../support/redis.js';

describe('redaction of credentials', () => {
  it('hides passwords in URLs, secrets in query strings and Slack tokens', () => {
    expect(redact('cannot reach Redis at redis://ferry:s3cr3t@10.0.0.5:6379/2: WRONGPASS')).toBe(
      'cannot reach Redis at redis://ferry:***@10.0.0.5:6379/2: WRONGPASS',
    );
    expect(redact('rediss://tok3n@redis.example:6380 and https://admin:pa%40ss@keystone:5000/v3')).toBe(
      'rediss://***@redis.example:6380 and https://admin:***@keystone:5000/v3',
    );
    expect(redact('GET https://nova:8774/v2.1/servers?token=abc123&all_tenants=1')).toBe(
      'GET https://nova:8774/v2.1/servers?token=***&all_tenants=1',
    );
    expect(redact('auth xoxb-1234-5678-abcdef and xapp-1-A0-99-ff, X-Auth-Token: gAAAAABk')).toBe(
      'auth *** and ***, X-Auth-Token: ***',
    );
    // Nothing to hide: unchanged.
    const plain = 'redis://127.0.0.1:6379 is down; user@example.com wrote';
    expect(redact(plain)).toBe(plain);
  });

  it('every FerryError hides them, whoever built the message (Nova, Keystone, Redis)', () => {
    const err = new DriverUnreachableError(
      'cannot reach Keystone at https://ferry:hunter2@keystone:5000/v3/auth/tokens',
    );
    expect(err.userMessage).not.toContain('hunter2');
    expect(err.message).not.toContain('hunter2');
    expect(toFerryError(new Error('connect redis://u:hunter2@h:1 failed')).userMessage).not.toContain(
      'hunter2',
    );
  });
});

describe('the bot refusing a Redis it cannot log in to', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', 'the-right-one'] });
  });
  afterAll(() => redis?.stop());

  it('names the Redis without its password', async () => {
    const logged: string[] = [];
    const url = `redis://ferry:wr0ng-pa55@127.0.0.1:${redis.port}`;
    const started = startBot(
      ['--config', 'examples/demo.yaml', '--redis', url],
      { SLACK_BOT_TOKEN: 'xoxb-test', SLACK_APP_TOKEN: 'xapp-test' },
      (line) => logged.push(line),
    );
    const err = await started.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (err as Error).message;
    expect(message).toContain(`cannot reach Redis at redis://ferry:***@127.0.0.1:${redis.port}`);
    expect(message).toContain('WRONGPASS');
    expect([message, ...logged].join('\n')).not.toContain('wr0ng-pa55');
  });
});
