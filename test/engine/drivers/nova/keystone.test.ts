import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../../src/engine/clock.js';
import { NovaApi } from '../../../../src/engine/drivers/nova/api.js';
import { novaConfigSchema } from '../../../../src/engine/drivers/nova/config.js';
import { authRequestBody, KeystoneClient, tokensUrl } from '../../../../src/engine/drivers/nova/keystone.js';
import { AuthError, ConfigError, DriverUnreachableError } from '../../../../src/engine/errors.js';
import { NovaStub, novaTestConfig } from '../../../support/nova-stub.js';

/** A clock the test moves by hand; it starts at the wall clock, as Keystone's expiry does. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = Date.now();
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

let stub: NovaStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

async function startStub(options: Partial<Parameters<typeof NovaStub.start>[0]> = {}): Promise<NovaStub> {
  stub = await NovaStub.start({ hosts: [{ name: 'cmp-1' }], ...options });
  return stub;
}

describe('Keystone sessions', () => {
  it('issues one token and reuses it for every call until it nears expiry, then renews it', async () => {
    const s = await startStub({ tokenTtlS: 3600 });
    const clock = manualClock();
    const keystone = new KeystoneClient({ config: novaTestConfig(s), clock, fetch });
    const first = await keystone.session();
    expect(first.computeUrl).toBe(s.computeUrl);
    expect((await keystone.session()).token).toBe(first.token);
    clock.advance(3000 * 1000); // 50 min: more than 5 min before expiry
    expect((await keystone.session()).token).toBe(first.token);
    expect(s.tokensIssued).toBe(1);
    clock.advance(301 * 1000); // now inside the 300 s renewal margin
    const renewed = await keystone.session();
    expect(renewed.token).not.toBe(first.token);
    expect(s.tokensIssued).toBe(2);
  });

  it('shares one request between concurrent callers', async () => {
    const s = await startStub();
    const keystone = new KeystoneClient({ config: novaTestConfig(s), clock: manualClock(), fetch });
    const sessions = await Promise.all([keystone.session(), keystone.session(), keystone.session()]);
    expect(new Set(sessions.map((x) => x.token)).size).toBe(1);
    expect(s.tokensIssued).toBe(1);
  });

  it('renews a token Nova no longer accepts (revoked) once, transparently', async () => {
    const s = await startStub();
    const api = new NovaApi({ config: novaTestConfig(s), clock: manualClock() });
    expect(await api.computeServices('cmp-1')).toHaveLength(1);
    s.revokeTokens();
    expect(await api.computeServices('cmp-1')).toHaveLength(1);
    expect(s.tokensIssued).toBe(2);
  });

  it('authenticates with an application credential, by id or by name and user', async () => {
    const s = await startStub();
    for (const auth of [
      { type: 'application_credential', id: 'app-cred-1', secret: 'app-s3cret' },
      { type: 'application_credential', name: 'ferry-app', secret: 'app-s3cret', username: 'ferry' },
    ]) {
      const keystone = new KeystoneClient({
        config: novaTestConfig(s, { auth }),
        clock: manualClock(),
        fetch,
      });
      expect((await keystone.session()).computeUrl).toBe(s.computeUrl);
    }
    const byName = authRequestBody(
      novaConfigSchema.shape.auth.parse({
        type: 'application_credential',
        name: 'n',
        secret: 'x',
        userId: 'u1',
      }),
    );
    expect(byName).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { name: 'n', secret: 'x', user: { id: 'u1' } },
        },
      },
    });
    expect(s.count('POST', /^\/auth\/tokens$/)).toBe(2);
  });

  it('authenticates a password user by domain ids, by user id, and with system scope', async () => {
    const s = await startStub();
    const parse = (auth: Record<string, unknown>) =>
      novaConfigSchema.shape.auth.parse({ type: 'password', password: 's3cret', ...auth });
    const variants = [
      { username: 'ferry', userDomainId: 'default', projectName: 'ops', projectDomainId: 'default' },
      { userId: '5c48ebaa193f4c5d948af559cc92cd5e', projectId: '6f70656e737461636b20342065766572' },
      { username: 'ferry', system: 'all' },
    ];
    for (const auth of variants) {
      const keystone = new KeystoneClient({
        config: novaTestConfig(s, { auth: { type: 'password', password: 's3cret', ...auth } }),
        clock: manualClock(),
        fetch,
      });
      expect((await keystone.session()).computeUrl, JSON.stringify(auth)).toBe(s.computeUrl);
    }
    expect(authRequestBody(parse(variants[0]!))).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'ferry', domain: { id: 'default' }, password: 's3cret' } },
        },
        scope: { project: { name: 'ops', domain: { id: 'default' } } },
      },
    });
    expect(authRequestBody(parse(variants[2]!))).toMatchObject({
      auth: { scope: { system: { all: true } } },
    });
    // One scope, one way to name the user and each domain.
    const refused = [
      { username: 'u', projectName: 'p', system: 'all' },
      { username: 'u', userId: 'x', projectId: 'p' },
      { username: 'u', userDomainId: 'd', userDomainName: 'D', projectId: 'p' },
      { userId: 'x', userDomainId: 'd', projectId: 'p' },
      { username: 'u', projectId: 'p', projectDomainId: 'd' },
    ];
    for (const auth of refused)
      expect(
        novaConfigSchema.shape.auth.safeParse({ type: 'password', password: 'p', ...auth }).success,
        JSON.stringify(auth),
      ).toBe(false);
  });

  it('reports bad credentials as an AuthError naming the user, not a crash', async () => {
    const s = await startStub();
    const config = novaTestConfig(s, {
      auth: { type: 'password', username: 'ferry', password: 'wrong', projectName: 'ops' },
    });
    const keystone = new KeystoneClient({ config, clock: manualClock(), fetch });
    const err = await keystone.session().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe('AUTH_FAILED');
    expect((err as AuthError).userMessage).toMatch(/refused the password credentials of user ferry/);
    expect((err as AuthError).retryable).toBe(false);
  });

  it('says clearly when the catalog has no compute endpoint for the interface and region', async () => {
    const none = await startStub({ computeInterfaces: [] });
    const err = await new KeystoneClient({ config: novaTestConfig(none), clock: manualClock(), fetch })
      .session()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).userMessage).toMatch(
      /no compute endpoint with interface internal in region RegionOne/,
    );
    expect((err as ConfigError).userMessage).toMatch(/lists no compute service/);
    await none.close();

    const publicOnly = await startStub({ computeInterfaces: ['public'] });
    const wrong = await new KeystoneClient({
      config: novaTestConfig(publicOnly),
      clock: manualClock(),
      fetch,
    })
      .session()
      .catch((e: unknown) => e);
    expect((wrong as ConfigError).userMessage).toMatch(/it has: public in RegionOne/);
    const config = novaTestConfig(publicOnly, { interface: 'public', region: 'RegionTwo' });
    const region = await new KeystoneClient({ config, clock: manualClock(), fetch })
      .session()
      .catch((e: unknown) => e);
    expect((region as ConfigError).userMessage).toMatch(/in region RegionTwo/);
  });

  it('reports an unreachable Keystone as a retryable DriverUnreachableError', async () => {
    const port = await freePort();
    const config = novaConfigSchema.parse({
      authUrl: `http://127.0.0.1:${port}/v3`,
      auth: { type: 'password', username: 'u', password: 'p', projectName: 'ops' },
    });
    const err = await new KeystoneClient({ config, clock: manualClock(), fetch })
      .session()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverUnreachableError);
    expect((err as DriverUnreachableError).retryable).toBe(true);
    expect((err as DriverUnreachableError).userMessage).toMatch(/cannot reach Keystone .* ECONNREFUSED/);
  });

  it('accepts an auth URL with or without /v3', () => {
    expect(tokensUrl('https://k.example:5000')).toBe('https://k.example:5000/v3/auth/tokens');
    expect(tokensUrl('https://k.example:5000/v3/')).toBe('https://k.example:5000/v3/auth/tokens');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
