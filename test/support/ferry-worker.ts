import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startBot } from '../../src/main.js';
import { CHANNELS, SlackStandin, TOKENS, USERS } from './fake-slack.js';
import { type RedisServer, startRedis } from './redis.js';
import { waitUntil } from './redis-ha.js';

/**
 * A bot and its engine apart, for the tests that run them so: the configs of a `ferry-worker`
 * (sim driver, two hosts) and of a bot without a worker (no fleet, no driver settings), and the
 * real `src/worker.ts` as its own process.
 */

const ROOT = join(import.meta.dirname, '..', '..');

/** The worker's config: cmp-001 and cmp-002 on `nicGbps` links, `instances` YAML lines on cmp-001, a fast fleet publication. */
export function workerConfig(nicGbps: number, instances: string[]): string {
  return `
timezone: UTC
fleet:
  driver: sim
  hosts:
    - { name: cmp-001, vcpus: 32, memoryGiB: 64, nicGbps: ${nicGbps} }
    - { name: cmp-002, vcpus: 32, memoryGiB: 64, nicGbps: ${nicGbps} }
  instances:
${instances.map((i) => `    - ${i}`).join('\n')}
redis:
  worker: { fleetPublishMs: 200 }
`;
}

/** The bot's: Slack (Socket Mode, alice an operator) and nothing about hypervisors; `extra` YAML appended. */
export function botConfig(extra = ''): string {
  return `
timezone: UTC
fleet: { driver: sim }
redis:
  worker: { fleetPublishMs: 200 }
slack:
  mode: socket
  progressChannel: ${CHANNELS.ops}
  operators: [${USERS.alice}]
  updateIntervalS: 0.2
${extra}`;
}

/** `ferry-worker --config FILE --name NAME ARGS…` from the sources, on `redisUrl`; its stderr collected. */
function spawnWorker(
  config: string,
  redisUrl: string,
  args: string[] = [],
): { child: ChildProcess; stderr(): string } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src', 'worker.ts'), '--config', config, '--name', 'w1', ...args],
    { env: { ...process.env, REDIS_URL: redisUrl }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += String(chunk);
  });
  return { child, stderr: () => stderr };
}

/** A running bot, as `startBot` resolves. */
export interface StartedBot {
  stop(): Promise<void>;
  metricsPort?: number;
}

/**
 * A split deployment: a temp dir holding `worker.yaml` and `bot.yaml`, a Redis (with a password
 * when given), the Slack stand-in, and the `ferry-worker` processes and bot a test starts on them.
 * `stop` ends whatever was started.
 */
export class SplitDeployment {
  private readonly workers: ChildProcess[] = [];
  private bot?: StartedBot;

  private constructor(
    readonly dir: string,
    readonly redis: RedisServer,
    /** The Redis URL the processes get (with the password). */
    readonly url: string,
    readonly slack: SlackStandin,
  ) {}

  /** Writes both configs, starts Redis and the stand-in. */
  static async start(options: { worker: string; bot: string; password?: string }): Promise<SplitDeployment> {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-split-'));
    writeFileSync(join(dir, 'worker.yaml'), options.worker);
    writeFileSync(join(dir, 'bot.yaml'), options.bot);
    const redis = await startRedis({ args: options.password ? ['--requirepass', options.password] : [] });
    const url = options.password ? redis.url.replace('redis://', `redis://:${options.password}@`) : redis.url;
    const slack = new SlackStandin(TOKENS);
    await slack.start();
    return new SplitDeployment(dir, redis, url, slack);
  }

  /** A `ferry-worker` process on `worker.yaml` (killed by `stop` if still running). */
  spawnWorker(args: string[] = []): ReturnType<typeof spawnWorker> {
    const spawned = spawnWorker(join(this.dir, 'worker.yaml'), this.url, args);
    this.workers.push(spawned.child);
    return spawned;
  }

  /** The standalone bot on `bot.yaml` with `--no-worker`, in Socket Mode on the stand-in. */
  async startBot(log: (line: string) => void = () => {}): Promise<StartedBot> {
    this.bot = (await startBot(
      ['--config', join(this.dir, 'bot.yaml'), '--no-worker'],
      {
        SLACK_BOT_TOKEN: TOKENS.botToken,
        SLACK_APP_TOKEN: TOKENS.appToken,
        SLACK_API_URL: this.slack.apiUrl,
        REDIS_URL: this.url,
      },
      log,
    )) as StartedBot;
    await this.slack.socketConnected();
    return this.bot;
  }

  /** Waits until the fleet a worker publishes is in Redis (`present`), or gone from it. */
  async fleetPublished(present = true, timeoutMs?: number): Promise<void> {
    const client = new Redis(this.url);
    try {
      await waitUntil(
        present ? 'the worker’s fleet in Redis' : 'the fleet to expire',
        async () => (await client.exists('{ferry}:fleet')) === (present ? 1 : 0),
        timeoutMs,
      );
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    for (const worker of this.workers) worker.kill('SIGKILL');
    await this.bot?.stop();
    await this.slack.stop();
    await this.redis.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
