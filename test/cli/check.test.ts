import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type CheckResult, runChecks } from '../../src/cli/check/index.js';
import { checkTable } from '../../src/cli/check/table.js';
import { systemClock } from '../../src/engine/clock.js';
import { loadConfig } from '../../src/engine/compose.js';
import { NovaApi } from '../../src/engine/drivers/nova/api.js';
import { SlackStandin, TOKENS } from '../support/fake-slack.js';
import { NovaStub, novaTestConfig } from '../support/nova-stub.js';
import { type RedisServer, startRedis } from '../support/redis.js';
import { type Sshd, startSshd } from '../support/sshd.js';

/**
 * `ferry check` against the real components the other tests start: redis-server, OpenSSH's
 * sshd, the Nova stand-in and the Slack stand-in, each once right and once wrong.
 */

const PASSPHRASE = 'key-passphrase-7f3a';
const REDIS_PASSWORD = 'redis-password-91c2';

let dir: string;
let redis: RedisServer;
let sshd: Sshd;
let slack: SlackStandin;
let nova: NovaStub;
let encryptedKey: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-check-'));
  [redis, sshd, nova] = await Promise.all([
    startRedis({ args: ['--requirepass', REDIS_PASSWORD] }),
    startSshd(),
    NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
      servers: [{ name: 'vm-1', host: 'cmp-1' }],
      setupMs: 0,
    }),
  ]);
  slack = new SlackStandin({ ...TOKENS, groups: {} });
  await slack.start();
  // The same key sshd accepts, encrypted with a passphrase.
  encryptedKey = join(dir, 'encrypted_ed25519');
  copyFileSync(sshd.userKeyPath, encryptedKey);
  chmodSync(encryptedKey, 0o600);
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', PASSPHRASE, '-f', encryptedKey]);
  // The cloud has a history: an instance action to read (with its events) on vm-1.
  const api = new NovaApi({ config: novaTestConfig(nova), clock: systemClock });
  await api.liveMigrate(nova.server('vm-1').id, 'cmp-2');
});

afterAll(async () => {
  await Promise.all([redis?.stop(), sshd?.stop(), nova?.close(), slack?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
/** Writes a config file and runs the checks on it, as `ferry check --config FILE` does. */
async function check(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<CheckResult[]> {
  const path = join(dir, `ferry-${files++}.yaml`);
  writeFileSync(path, stringify(config));
  const withApi = { SLACK_API_URL: slack.apiUrl, ...env };
  return runChecks(loadConfig(path, withApi), withApi, path);
}

const hostsOf = (names: string[]) => names.map((name) => ({ name, vcpus: 8, memoryGiB: 32, nicGbps: 10 }));

function qemuConfig(overrides: { ssh?: Record<string, unknown>; redis?: Record<string, unknown> } = {}) {
  return {
    fleet: { driver: 'qemu', hosts: hostsOf(['hv1']), instances: [] },
    ssh: {
      privateKeyPath: sshd.userKeyPath,
      connectTimeoutS: 10,
      hosts: [{ name: 'hv1', address: '127.0.0.1', port: sshd.port, hostKey: sshd.hostKeyFingerprint }],
      ...overrides.ssh,
    },
    qemu: { incomingCommand: 'sh /usr/local/sbin/ferry-incoming {instance}' },
    redis: { url: redis.url, password: REDIS_PASSWORD, ...overrides.redis },
    slack: { mode: 'socket', progressChannel: 'C0OPS', operators: ['S0OPS'] },
  };
}

function novaConfig(auth: Record<string, unknown> = {}, nova_: Record<string, unknown> = {}) {
  return {
    fleet: { driver: 'nova' },
    nova: {
      authUrl: nova.authUrl,
      auth: { type: 'password', username: 'ferry', password: 's3cret', projectName: 'ops', ...auth },
      requestTimeoutS: 5,
      ...nova_,
    },
    redis: { url: redis.url, password: REDIS_PASSWORD },
    slack: { mode: 'http', progressChannel: 'C0OPS' },
  };
}

const env = { SLACK_BOT_TOKEN: TOKENS.botToken, SLACK_APP_TOKEN: TOKENS.appToken };
const httpEnv = { SLACK_BOT_TOKEN: TOKENS.botToken, SLACK_SIGNING_SECRET: TOKENS.signingSecret };

const verdicts = (results: CheckResult[]) =>
  Object.fromEntries(results.map((r) => [`${r.component} ${r.target} ${r.check}`, r.verdict]));
const failed = (results: CheckResult[]) => results.filter((r) => r.verdict === 'fail');
const find = (results: CheckResult[], component: string, check: string) => {
  const found = results.find((r) => r.component === component && r.check === check);
  if (!found) throw new Error(`no ${component} ${check} in ${JSON.stringify(results, null, 2)}`);
  return found;
};

describe('ferry check on a qemu fleet: Redis, SSH and the Slack app', () => {
  it('passes when everything a drain needs is there, one verdict a line', async () => {
    const results = await check(qemuConfig(), env);
    expect(failed(results)).toEqual([]);
    expect(verdicts(results)).toMatchObject({
      [`redis ${redis.url} reachable`]: 'ok',
      [`redis ${redis.url} version`]: 'ok',
      [`redis ${redis.url} eviction policy`]: 'ok',
      [`ssh ${sshd.userKeyPath} private key`]: 'ok',
      'ssh hv1 reachable': 'ok',
      'qemu hv1 incoming command': 'ok',
      'slack bot token auth.test': 'ok',
      'slack bot token scopes': 'ok',
      'slack app token apps.connections.open': 'ok',
    });
    expect(find(results, 'redis', 'version').detail).toMatch(/^Redis 7\./);
    expect(find(results, 'ssh', 'reachable').detail).toContain(sshd.hostKeyFingerprint);
    const table = checkTable(results);
    expect(table.split('\n')[0]).toMatch(/^VERDICT\s+COMPONENT\s+TARGET\s+CHECK\s+DETAIL$/);
    expect(table).toContain('everything a drain needs is there');
  });

  it('fails on a stopped Redis, and never shows its password', async () => {
    const stopped = await startRedis();
    await stopped.stop();
    const url = `redis://ferry:${REDIS_PASSWORD}@127.0.0.1:${stopped.port}`;
    const results = await check(qemuConfig({ redis: { url, password: undefined } }), env);
    expect(failed(results).map((r) => `${r.component} ${r.check}`)).toEqual(['redis reachable']);
    expect(find(results, 'redis', 'reachable').detail).toMatch(/ECONNREFUSED/);
    const table = checkTable(results);
    expect(table).toContain(`redis://ferry:***@127.0.0.1:${stopped.port}`);
    expect(table).not.toContain(REDIS_PASSWORD);
  });

  it('fails on a wrong Redis password, an evicting Redis and missing replicas', async () => {
    const wrong = await check(qemuConfig({ redis: { password: 'not-the-password' } }), env);
    expect(find(wrong, 'redis', 'reachable')).toMatchObject({ verdict: 'fail' });
    expect(find(wrong, 'redis', 'reachable').detail).toMatch(/WRONGPASS|invalid username-password/);

    const evicting = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    try {
      const results = await check(
        qemuConfig({ redis: { url: evicting.url, password: undefined, replicasToAck: 1 } }),
        env,
      );
      expect(find(results, 'redis', 'eviction policy')).toMatchObject({ verdict: 'fail' });
      expect(find(results, 'redis', 'eviction policy').detail).toContain('allkeys-lru');
      expect(find(results, 'redis', 'replicas')).toMatchObject({ verdict: 'fail' });
      expect(find(results, 'redis', 'replicas').detail).toMatch(/^0 connected, 1 needed/);
    } finally {
      await evicting.stop();
    }
  });

  it('fails on a key sshd does not accept, a changed host key and a key others may read', async () => {
    const stranger = join(dir, 'stranger_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const wrongKey = await check(qemuConfig({ ssh: { privateKeyPath: stranger } }), env);
    expect(failed(wrongKey).map((r) => `${r.component} ${r.target} ${r.check}`)).toEqual([
      'ssh hv1 reachable',
    ]);
    expect(find(wrongKey, 'ssh', 'reachable').detail).toBe("hv1 refused ferry's SSH key for user root");

    const otherPin = `SHA256:${'A'.repeat(43)}`;
    const hosts = [{ name: 'hv1', address: '127.0.0.1', port: sshd.port, hostKey: otherPin }];
    const changed = await check(qemuConfig({ ssh: { hosts } }), env);
    expect(find(changed, 'ssh', 'reachable').verdict).toBe('fail');
    expect(find(changed, 'ssh', 'reachable').detail).toContain(
      `presented host key ${sshd.hostKeyFingerprint}, not the pinned ${otherPin}`,
    );

    const open = join(dir, 'open_ed25519');
    copyFileSync(sshd.userKeyPath, open);
    chmodSync(open, 0o644);
    const readable = await check(qemuConfig({ ssh: { privateKeyPath: open } }), env);
    expect(find(readable, 'ssh', 'private key')).toMatchObject({ verdict: 'fail' });
    expect(find(readable, 'ssh', 'private key').detail).toContain('chmod 600');
    // Without a usable key ferry does not even try the host.
    expect(readable.filter((r) => r.check === 'reachable' && r.component === 'ssh')).toEqual([]);
  });

  it('fails on a fleet host without SSH settings and a missing incoming program', async () => {
    const config = qemuConfig();
    const results = await check(
      {
        ...config,
        fleet: { ...config.fleet, hosts: hostsOf(['hv1', 'hv9']) },
        qemu: { incomingCommand: 'ferry-no-such-program {instance}' },
      },
      env,
    );
    expect(find(results, 'ssh', 'configured')).toMatchObject({ target: 'hv9', verdict: 'fail' });
    expect(find(results, 'qemu', 'incoming command')).toMatchObject({ verdict: 'fail' });
    expect(find(results, 'qemu', 'incoming command').detail).toContain('ferry-no-such-program');
  });

  it('fails on an encrypted key without its passphrase, and with a wrong one', async () => {
    const none = await check(qemuConfig({ ssh: { privateKeyPath: encryptedKey } }), env);
    expect(find(none, 'ssh', 'private key').detail).toMatch(/it is encrypted: set FERRY_SSH_KEY_PASSPHRASE/);
    const wrong = await check(
      qemuConfig({ ssh: { privateKeyPath: encryptedKey, privateKeyPassphrase: 'nope-nope' } }),
      env,
    );
    expect(find(wrong, 'ssh', 'private key').detail).toContain('the passphrase does not open it');
  });

  it('fails on a missing scope, a refused bot token and a refused app token', async () => {
    const narrow = new SlackStandin({ ...TOKENS, scopes: ['commands', 'chat:write'] });
    await narrow.start();
    try {
      const results = await check(qemuConfig(), { ...env, SLACK_API_URL: narrow.apiUrl });
      expect(failed(results).map((r) => `${r.target} ${r.check}`)).toEqual(['bot token scopes']);
      expect(find(results, 'slack', 'scopes').detail).toMatch(
        /^lacks usergroups:read \(roles given to user groups\); has commands, chat:write/,
      );
      // Roles by user id alone need no usergroups:read.
      const config = qemuConfig();
      const byId = await check(
        { ...config, slack: { ...config.slack, operators: ['U0ALICE'] } },
        { ...env, SLACK_API_URL: narrow.apiUrl },
      );
      expect(failed(byId)).toEqual([]);
    } finally {
      await narrow.stop();
    }
    const refused = await check(qemuConfig(), {
      SLACK_BOT_TOKEN: 'xoxb-wrong',
      SLACK_APP_TOKEN: 'xapp-wrong',
    });
    expect(find(refused, 'slack', 'auth.test').detail).toMatch(
      /Slack refused the token \(from SLACK_BOT_TOKEN\): invalid_auth/,
    );
    expect(find(refused, 'slack', 'apps.connections.open').detail).toMatch(
      /Slack refused the app token .*invalid_auth/,
    );
    const missing = await check(qemuConfig(), {});
    expect(find(missing, 'slack', 'auth.test').detail).toBe(
      'not set: set SLACK_BOT_TOKEN, SLACK_BOT_TOKEN_FILE or slack.botToken',
    );
  });
});

describe('ferry check on Nova: token, microversions and policy rules', () => {
  it('passes with a role that has every rule, and lists the ones only a write would tell', async () => {
    const results = await check(novaConfig(), httpEnv);
    expect(failed(results)).toEqual([]);
    expect(find(results, 'nova', 'token').detail).toMatch(
      /^issued \(password, secret from nova\.auth\.password\)/,
    );
    expect(find(results, 'nova', 'microversion').detail).toMatch(
      /^the cloud offers 2\.1 to 2\.104; ferry sends 2\.80/,
    );
    const policy = results.filter((r) => r.check.startsWith('policy '));
    expect(policy.filter((r) => r.verdict === 'ok').map((r) => r.check)).toEqual([
      'policy os_compute_api:os-hypervisors:list-detail',
      'policy os_compute_api:servers:detail + os_compute_api:servers:detail:get_all_tenants',
      'policy os_compute_api:servers:show + os_compute_api:os-extended-server-attributes',
      'policy os_compute_api:os-server-groups:index',
      'policy os_compute_api:os-availability-zone:detail',
      'policy os_compute_api:os-services:list',
      'policy os_compute_api:os-migrations:index',
      'policy os_compute_api:servers:migrations:index',
      'policy os_compute_api:servers:migrations:show',
      'policy os_compute_api:os-instance-actions:list',
      'policy os_compute_api:os-instance-actions:show + os_compute_api:os-instance-actions:events',
    ]);
    expect(policy.filter((r) => r.verdict === 'skip').map((r) => r.check)).toEqual([
      'policy os_compute_api:os-server-groups:index:all_projects',
      'policy os_compute_api:os-services:update',
      'policy os_compute_api:os-migrate-server:migrate_live',
      'policy os_compute_api:servers:migrations:force_complete',
      'policy os_compute_api:servers:migrations:delete',
    ]);
    expect(find(results, 'slack', 'present').detail).toMatch(/^set \(from SLACK_SIGNING_SECRET\)/);
    // Reads only: ferry changed nothing in the cloud.
    expect(nova.calls.filter((c) => c.method !== 'GET' && c.service !== 'keystone').length).toBe(1); // beforeAll's migration
  });

  it('reads Placement too at 2.88 and later', async () => {
    const results = await check(novaConfig({}, { microversion: '2.88' }), httpEnv);
    expect(failed(results)).toEqual([]);
    expect(verdicts(results)).toMatchObject({
      [`nova ${nova.authUrl} policy placement:resource_providers:inventories:list`]: 'ok',
      [`nova ${nova.authUrl} policy placement:resource_providers:usages`]: 'ok',
    });
  });

  it('fails on each rule the role lacks, fatal (403) or not (fields left out)', async () => {
    const denied = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }],
      servers: [{ name: 'vm-1', host: 'cmp-1' }],
    });
    try {
      denied.denyPolicy(
        'os_compute_api:os-migrations:index',
        'os_compute_api:servers:migrations:show',
        'os_compute_api:os-extended-server-attributes',
        'placement:resource_providers:usages',
      );
      const results = await check(novaConfig({}, { authUrl: denied.authUrl, microversion: '2.88' }), httpEnv);
      expect(failed(results).map((r) => r.check)).toEqual([
        'policy os_compute_api:servers:show + os_compute_api:os-extended-server-attributes',
        'policy os_compute_api:os-migrations:index',
        'policy os_compute_api:servers:migrations:show',
        'policy placement:resource_providers:usages',
      ]);
      expect(find(results, 'nova', 'policy os_compute_api:os-migrations:index').detail).toBe(
        "denied (GET /os-migrations: 403 Policy doesn't allow os_compute_api:os-migrations:index to be performed.); allow os_compute_api:os-migrations:index to ferry's role",
      );
      expect(results.find((r) => r.check.includes('extended-server-attributes'))!.detail).toMatch(
        /shows no OS-EXT-SRV-ATTR:host/,
      );
      // No instance action in this cloud yet: nothing to read the events of.
      expect(results.find((r) => r.check.includes('instance-actions:show'))!.verdict).toBe('skip');
    } finally {
      await denied.close();
    }
  });

  it('fails on instance-action events left out, a refused password and a cloud too old', async () => {
    const quiet = await NovaStub.start({
      hosts: [{ name: 'cmp-1' }, { name: 'cmp-2' }],
      servers: [{ name: 'vm-1', host: 'cmp-1' }],
    });
    try {
      quiet.denyPolicy('os_compute_api:os-instance-actions:events');
      const api = new NovaApi({ config: novaTestConfig(quiet), clock: systemClock });
      await api.liveMigrate(quiet.server('vm-1').id, 'cmp-2');
      const events = await check(novaConfig({}, { authUrl: quiet.authUrl }), httpEnv);
      expect(failed(events).map((r) => r.check)).toEqual([
        'policy os_compute_api:os-instance-actions:show + os_compute_api:os-instance-actions:events',
      ]);
    } finally {
      await quiet.close();
    }

    const refused = await check(novaConfig({ password: 'not-the-password' }), httpEnv);
    expect(refused.filter((r) => r.component === 'nova')).toEqual([
      expect.objectContaining({ check: 'token', verdict: 'fail' }),
    ]);
    expect(find(refused, 'nova', 'token').detail).toMatch(
      /^Keystone at .* refused the password credentials of user ferry/,
    );
    expect(checkTable(refused)).not.toContain('not-the-password');

    const train = await NovaStub.start({ hosts: [{ name: 'cmp-1' }], maxMicroversion: '2.79' });
    try {
      const results = await check(novaConfig({}, { authUrl: train.authUrl }), httpEnv);
      expect(find(results, 'nova', 'microversion')).toMatchObject({ verdict: 'fail' });
      expect(find(results, 'nova', 'microversion').detail).toMatch(
        /^the cloud offers 2\.1 to 2\.79; ferry sends 2\.80/,
      );
      expect(results.some((r) => r.check.startsWith('policy'))).toBe(false);
    } finally {
      await train.close();
    }
  });
});

describe('secrets: the environment, a _FILE, then the config, for every secret', () => {
  const secretsDir = () => {
    const d = join(dir, `secrets-${files++}`);
    execFileSync('mkdir', ['-p', d]);
    return d;
  };
  const fromFiles = (values: Record<string, string>) => {
    const d = secretsDir();
    return Object.fromEntries(
      Object.entries(values).map(([name, value]) => {
        const path = join(d, name.toLowerCase());
        writeFileSync(path, `${value}\n`); // as `echo` writes it
        return [`${name}_FILE`, path];
      }),
    );
  };
  const SECRET_VALUES = [
    REDIS_PASSWORD,
    PASSPHRASE,
    TOKENS.botToken,
    TOKENS.appToken,
    TOKENS.signingSecret,
    's3cret',
    'app-s3cret',
  ];

  /** A qemu config whose secrets sit where `where` says; none of them shows in the table. */
  async function qemuWith(where: 'env' | 'file' | 'config') {
    const values = {
      FERRY_REDIS_PASSWORD: REDIS_PASSWORD,
      FERRY_SSH_KEY_PASSPHRASE: PASSPHRASE,
      SLACK_BOT_TOKEN: TOKENS.botToken,
      SLACK_APP_TOKEN: TOKENS.appToken,
    };
    const base = qemuConfig({ ssh: { privateKeyPath: encryptedKey }, redis: { password: undefined } });
    const config =
      where === 'config'
        ? {
            ...base,
            ssh: { ...base.ssh, privateKeyPassphrase: PASSPHRASE },
            redis: { url: redis.url, password: REDIS_PASSWORD },
            slack: { ...base.slack, botToken: TOKENS.botToken, appToken: TOKENS.appToken },
          }
        : base;
    const secretEnv = where === 'env' ? values : where === 'file' ? fromFiles(values) : {};
    return check(config, secretEnv);
  }

  async function novaWith(where: 'env' | 'file' | 'config', type: 'password' | 'application_credential') {
    const [name, value] =
      type === 'password'
        ? ['FERRY_NOVA_PASSWORD', 's3cret']
        : ['FERRY_NOVA_APPLICATION_CREDENTIAL_SECRET', 'app-s3cret'];
    const auth =
      type === 'password'
        ? { password: where === 'config' ? value : undefined }
        : {
            type,
            id: 'app-cred-1',
            secret: where === 'config' ? value : undefined,
            username: undefined,
            projectName: undefined,
            password: undefined,
          };
    const values = {
      [name]: value,
      SLACK_BOT_TOKEN: TOKENS.botToken,
      SLACK_SIGNING_SECRET: TOKENS.signingSecret,
    };
    const config = novaConfig(auth);
    const withSlack =
      where === 'config'
        ? {
            ...config,
            slack: { ...config.slack, botToken: TOKENS.botToken, signingSecret: TOKENS.signingSecret },
          }
        : config;
    return check(withSlack, where === 'env' ? values : where === 'file' ? fromFiles(values) : {});
  }

  // Each run opens the encrypted key (bcrypt): seconds on a loaded machine.
  for (const where of ['env', 'file', 'config'] as const)
    it(`takes every secret from the ${where === 'file' ? '_FILE it names' : where}, and prints none`, {
      timeout: 90_000,
    }, async () => {
      const origin = (name: string, config: string) =>
        where === 'env' ? name : where === 'file' ? `${name}_FILE=` : config;
      const qemu = await qemuWith(where);
      expect(failed(qemu)).toEqual([]);
      expect(find(qemu, 'redis', 'reachable').detail).toBe('answers PING (password from ferry)');
      expect(find(qemu, 'ssh', 'private key').detail).toContain(
        `opened with the passphrase from ${origin('FERRY_SSH_KEY_PASSPHRASE', 'ssh.privateKeyPassphrase')}`,
      );
      expect(find(qemu, 'slack', 'auth.test').detail).toContain(
        `token from ${origin('SLACK_BOT_TOKEN', 'slack.botToken')}`,
      );
      expect(find(qemu, 'slack', 'apps.connections.open').detail).toContain(
        `token from ${origin('SLACK_APP_TOKEN', 'slack.appToken')}`,
      );
      for (const type of ['password', 'application_credential'] as const) {
        const results = await novaWith(where, type);
        expect(failed(results)).toEqual([]);
        const spec =
          type === 'password'
            ? ['FERRY_NOVA_PASSWORD', 'nova.auth.password']
            : ['FERRY_NOVA_APPLICATION_CREDENTIAL_SECRET', 'nova.auth.secret'];
        expect(find(results, 'nova', 'token').detail).toContain(`secret from ${origin(spec[0]!, spec[1]!)}`);
        expect(find(results, 'slack', 'present').detail).toContain(
          `from ${origin('SLACK_SIGNING_SECRET', 'slack.signingSecret')}`,
        );
        for (const secret of SECRET_VALUES) expect(checkTable(results)).not.toContain(secret);
      }
      for (const secret of SECRET_VALUES) expect(checkTable(qemu)).not.toContain(secret);
    });

  it('prefers the environment to a file, and a file to the config', async () => {
    const config = qemuConfig({ redis: { password: 'config-loses-1' } });
    const both = await check(config, {
      ...env,
      FERRY_REDIS_PASSWORD: REDIS_PASSWORD,
      ...fromFiles({ FERRY_REDIS_PASSWORD: 'file-loses-22' }),
    });
    expect(find(both, 'redis', 'reachable').verdict).toBe('ok');
    const file = await check(config, { ...env, ...fromFiles({ FERRY_REDIS_PASSWORD: REDIS_PASSWORD }) });
    expect(find(file, 'redis', 'reachable').verdict).toBe('ok');
    const configOnly = await check(config, env);
    expect(find(configOnly, 'redis', 'reachable').verdict).toBe('fail');
  });

  it('refuses an unreadable or empty secret file, naming the variable and the path', async () => {
    const path = join(dir, 'ferry-empty.yaml');
    writeFileSync(path, stringify(qemuConfig()));
    expect(() => loadConfig(path, { FERRY_REDIS_PASSWORD_FILE: join(dir, 'missing') })).toThrow(
      `FERRY_REDIS_PASSWORD_FILE=${join(dir, 'missing')} cannot be read: ENOENT`,
    );
    const empty = join(dir, 'empty-secret');
    writeFileSync(empty, '\n');
    expect(() => loadConfig(path, { FERRY_REDIS_PASSWORD_FILE: empty })).toThrow(
      'is empty; it should hold the secret',
    );
  });
});

describe('the ferry command', () => {
  const run = (args: string[], extraEnv: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        'npx',
        ['tsx', 'src/cli/main.ts', ...args],
        { env: { ...process.env, SLACK_API_URL: slack.apiUrl, ...extraEnv } },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      );
    });

  // Three programs started with tsx: seconds each on a loaded machine.
  it('exits 0 when everything is there, 1 when something fails, 2 on a bad config', {
    timeout: 120_000,
  }, async () => {
    const path = join(dir, 'ferry-cli.yaml');
    writeFileSync(path, stringify(qemuConfig()));
    const good = await run(['check', '--config', path, '--json'], env);
    expect(good.code).toBe(0);
    const document = JSON.parse(good.stdout);
    expect(document.ok).toBe(true);
    expect(document.checks.length).toBeGreaterThan(5);

    const bad = await run(['check', '--config', path], { ...env, SLACK_BOT_TOKEN: 'xoxb-wrong' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL\s+slack\s+bot token\s+auth\.test/m);
    expect(bad.stdout).not.toContain('xoxb-wrong');

    writeFileSync(path, 'fleet: { driver: qemu, hosts: 7 }\n');
    const invalid = await run(['check', '--config', path], env);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('is not a valid ferry config');
  });
});
