import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../support/redis.js';

/**
 * ferry as its users get it: `npm pack`, the tarball installed offline (from the cache `npm ci`
 * filled) into a scratch project beside @slack/bolt, then mounted into a real Bolt app against
 * the loopback Slack stand-in and asked for a plan, from plain-node ESM; the same package type
 * checks from TypeScript, and its `ferry-worker` binary runs under plain node.
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const version = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version;

const MOUNT_JS = `
import { App } from '@slack/bolt';
import { mountFerry } from 'ferry';
const { SlackStandin } = await import(process.env.STANDIN_MODULE);
const tokens = { botToken: 'xoxb-pack', appToken: 'xapp-pack' };
const slack = new SlackStandin(tokens);
await slack.start();
const app = new App({
  token: tokens.botToken, appToken: tokens.appToken, socketMode: true,
  clientOptions: { slackApiUrl: slack.apiUrl }, deferInitialization: true,
});
await mountFerry(app, { config: process.env.FERRY_CONFIG, redis: process.env.REDIS_URL, log: () => {} });
await app.init();
await app.start();
await slack.socketConnected();
const delivery = await slack.slash('U0ALICE', 'plan cmp-001', 'C0OPS');
const answer = await slack.waitFor('the plan', () => slack.answers(delivery.responseUrl)[0]);
console.log(JSON.stringify({ text: answer.text }));
await app.stop();
await slack.stop();
process.exit(0);
`;

const CHECK_TS = `
import { App } from '@slack/bolt';
import { type Ferry, FerryError, mountFerry } from 'ferry';
import { loadConfig } from 'ferry/engine';
const app = new App({ token: 'xoxb-x', signingSecret: 's' });
export const mounted: Promise<Ferry> = mountFerry(app, {
  config: loadConfig('ferry.yaml'),
  redis: 'redis://127.0.0.1:6379',
  command: '/ops',
});
// @ts-expect-error redis is a client or a URL: the types must say so, not be any
mountFerry(app, { redis: 42 });
export const authFailed = (e: unknown) => e instanceof FerryError && e.code === 'AUTH_FAILED';
`;

describe('the packed package', () => {
  let scratch: string;
  let redis: RedisServer;
  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'ferry-pack-'));
    redis = await startRedis();
    await run('npm', ['run', '--silent', 'build'], { cwd: ROOT });
    const { stdout } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch],
      {
        cwd: ROOT,
      },
    );
    const { filename } = (JSON.parse(stdout) as Array<{ filename: string }>)[0]!;
    writeFileSync(
      join(scratch, 'package.json'),
      JSON.stringify({ name: 'scratch-host', private: true, type: 'module' }),
    );
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        join(scratch, filename),
        `@slack/bolt@${version('@slack/bolt')}`,
        `@types/node@${version('@types/node')}`,
      ],
      { cwd: scratch },
    );
  }, 300_000);
  afterAll(async () => {
    await redis?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('mounts into a real Bolt app from plain-node ESM and answers a command', async () => {
    writeFileSync(join(scratch, 'mount.mjs'), MOUNT_JS);
    const { stdout } = await run(process.execPath, ['mount.mjs'], {
      cwd: scratch,
      env: {
        ...process.env,
        STANDIN_MODULE: pathToFileURL(join(ROOT, 'dist', 'demo', 'slack-standin.js')).href,
        FERRY_CONFIG: join(ROOT, 'examples', 'demo.yaml'),
        REDIS_URL: redis.url,
      },
      timeout: 60_000,
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!).text).toMatch(/^Plan: drain cmp-001: \d+ moves/);
    // Nothing TypeScript at run time: tsx is not among what the package pulls in.
    const installed = JSON.parse(
      readFileSync(join(scratch, 'node_modules', 'ferry', 'package.json'), 'utf8'),
    );
    expect(Object.keys(installed.dependencies)).not.toContain('tsx');
    expect(installed.peerDependencies['@slack/bolt']).toBeDefined();
  }, 90_000);

  it('type checks from TypeScript against the package’s own declarations', async () => {
    writeFileSync(join(scratch, 'check.ts'), CHECK_TS);
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['check.ts'],
      }),
    );
    await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', scratch], { cwd: scratch });
  }, 90_000);

  it('runs ferry-worker with plain node, which says what it needs', async () => {
    const failure = await run(join(scratch, 'node_modules', '.bin', 'ferry-worker'), [], {
      cwd: scratch,
    }).then(
      () => undefined,
      (err: { code?: number; stderr?: string }) => err,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('no config file: pass --config FILE');
  }, 30_000);
});
