import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferryRedis } from '../../src/commands/redis.js';
import { DriverUnreachableError, FerryError, toFerryError } from '../../src/engine/errors.js';
import { redact } from '../../src/engine/redact.js';
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

describe('ferry refusing a Redis it cannot log in to', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis({ args: ['--requirepass', 'the-right-one'] });
  });
  afterAll(() => redis?.stop());

  it('says why without the password, in its error and its log', async () => {
    const logged: string[] = [];
    const url = `redis://ferry:wr0ng-pa55@127.0.0.1:${redis.port}`;
    const err = await ferryRedis(url, (line) => logged.push(line)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FerryError);
    const message = (err as FerryError).userMessage;
    expect(message).toContain('WRONGPASS');
    expect([message, ...logged].join('\n')).not.toContain('wr0ng-pa55');
  });
});
