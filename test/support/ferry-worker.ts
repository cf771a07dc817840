import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { CHANNELS, USERS } from './fake-slack.js';

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
export function spawnWorker(
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
