import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, USERS } from '../support/fake-slack.js';
import { botConfig, SplitDeployment, workerConfig } from '../support/ferry-worker.js';
import { waitUntil } from '../support/redis-ha.js';
import { completedProgress, evacuationId, textOf } from './story.js';

/**
 * What the people who run ferry see: a real ferry-worker process (sim driver) and a bot without a
 * worker, each serving /metrics on a port of its own, scraped during and after an evacuation;
 * and the worker's JSON log lines, which carry the evacuation's id and never Redis's password.
 */

const { alice } = USERS;
const PASSWORD = 'hunter2-redis';

/** The sum of the samples of `name` whose labels include `labels`, in Prometheus's text format. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(match[3]);
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

describe('metrics and logs of a real worker and bot', () => {
  let split: SplitDeployment | undefined;
  afterEach(async () => {
    await split?.stop();
    split = undefined;
  });

  it('counts the evacuation on /metrics during and after it, and logs JSON with ids and no password', async () => {
    // One VM of 512 MiB on a 1 Gb/s link: a migration of about four seconds, long enough to be seen running.
    split = await SplitDeployment.start({
      worker: workerConfig(1, ['{ name: app-01, host: cmp-001, vcpus: 2, memoryGiB: 0.5, dirtyMiBps: 1 }']),
      bot: botConfig('metrics: { port: 0 }'),
      password: PASSWORD,
    });
    const standin = split.slack;

    const { stderr } = split.spawnWorker(['--metrics-port', '0']);
    const logs = () =>
      stderr()
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const running = await waitUntil('the worker to run', async () =>
      logs().find((l) => String(l.msg).startsWith('worker running')),
    );
    const workerPort = Number(/metrics on port (\d+)/.exec(String(running.msg))?.[1]);
    expect(workerPort).toBeGreaterThan(0);

    const botPort = (await split.startBot()).metricsPort!;
    expect(botPort).toBeGreaterThan(0);

    // Before: nothing counted, nothing running.
    const before = await scrape(workerPort);
    expect(sample(before, 'ferry_evacuations_running')).toBe(0);
    expect(sample(before, 'ferry_migration_bytes_sent_total')).toBeNaN();
    expect(sample(before, 'ferry_process_resident_memory_bytes')).toBeGreaterThan(0);

    await split.fleetPublished();
    const delivery = await standin.slash(alice, 'evacuate cmp-001 now', CHANNELS.ops);
    const preview = await standin.waitFor('the preview', () => standin.answers(delivery.responseUrl!)[0]);
    expect(textOf(preview)).toContain('Plan: drain cmp-001');
    await standin.click(alice, preview, 'Confirm');

    // During: the bot (which runs nothing) sees the deployment's state; the worker counted the start.
    await waitUntil('the migration running on the bot’s /metrics', async () => {
      const text = await scrape(botPort);
      return (
        sample(text, 'ferry_evacuations_running') === 1 &&
        sample(text, 'ferry_migrations_in_flight', { state: 'running' }) === 1
      );
    });
    const during = await scrape(workerPort);
    expect(sample(during, 'ferry_migrations_total', { state: 'started' })).toBe(1);
    expect(sample(during, 'ferry_migrations_total', { state: 'completed' })).toBeNaN();

    const progress = await completedProgress(standin, 'cmp-001');
    const id = evacuationId(textOf(progress));

    // After: the worker's counters and histograms moved; nothing runs any more.
    const after = await waitUntil('the finished evacuation on the worker’s /metrics', async () => {
      const text = await scrape(workerPort);
      return sample(text, 'ferry_evacuations_finished_total', { state: 'completed' }) === 1 && text;
    });
    expect(sample(after, 'ferry_migrations_total', { state: 'completed', strategy: 'precopy' })).toBe(1);
    expect(sample(after, 'ferry_migration_duration_seconds_count')).toBe(1);
    expect(sample(after, 'ferry_migration_duration_seconds_sum')).toBeGreaterThan(1);
    expect(sample(after, 'ferry_migration_downtime_seconds_count')).toBe(1);
    expect(sample(after, 'ferry_migration_bytes_sent_total', { state: 'completed' })).toBeGreaterThanOrEqual(
      512 * 2 ** 20,
    );
    const botAfter = await scrape(botPort);
    expect(sample(botAfter, 'ferry_evacuations_running')).toBe(0);
    expect(sample(botAfter, 'ferry_approvals_waiting')).toBe(0);
    expect(sample(botAfter, 'ferry_queue_jobs', { state: 'active' })).toBe(0);

    // The worker's log: one JSON object a line, the evacuation's id as a field, no password.
    const lines = logs();
    expect(lines.every((l) => l.name === 'ferry-worker' && typeof l.level === 'string')).toBe(true);
    expect(lines.find((l) => l.evacuationId === id && l.state === 'completed')).toBeDefined();
    expect(String(running.msg)).toContain(':***@127.0.0.1');
    expect(stderr()).not.toContain(PASSWORD);
  }, 120_000);
});
