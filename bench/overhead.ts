import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { startRedis } from '../src/demo/redis.js';
import { createDurableEngine, parseConfig } from '../src/engine/compose.js';
import { simClock } from '../src/engine/drivers/sim/clock.js';
import { RemoteSimDriver } from '../src/engine/drivers/sim/remote.js';
import { type Child, spawnTs } from '../test/processes/spawn.js';
import { until } from '../test/support/until.js';

/**
 * `npm run bench -- overhead`: what watching migrations costs the engine itself. A redis-server
 * started here, the simulated fleet in its own process (the sim server, real time), and one
 * durable worker process run `sources` evacuations of 4 long migrations each, all at once; once
 * every migration runs, a window of `windowS` seconds is measured:
 *  - the worker's CPU seconds (utime + stime from /proc/PID/stat), per migration-hour watched;
 *  - Redis's own count of the commands it ran (INFO stats `total_commands_processed`, which on
 *    Redis 7 includes the commands the Lua scripts call), beside the scripts run (EVAL, EVALSHA,
 *    FCALL calls from INFO commandstats), the busiest commands, and the same window split by
 *    Redis's MONITOR into commands clients sent and commands Lua scripts called;
 *  - that every migration is watched: the oldest stored sample at the window's end, and the
 *    `migration.progress` events written (one per migration every 10 s).
 * The targets (issue 17): 1,000 concurrent migrations under one CPU core and under 2,000 Redis
 * commands/s.
 */

export interface OverheadOptions {
  /** Source hosts, each drained of 4 VMs at once (default 250: 1,000 migrations). */
  sources?: number;
  windowS?: number;
  log: (line: string) => void;
}

export interface OverheadFigures {
  migrations: number;
  windowS: number;
  workerCpuS: number;
  /** Worker CPU seconds over the window / its share of a core. */
  workerCores: number;
  cpuSecondsPerMigrationHour: number;
  redisCommandsPerS: number;
  redisScriptsPerS: number;
  /**
   * The same window as Redis's MONITOR shows it: commands clients sent, and commands the Lua
   * scripts called (MONITOR marks those `lua`), per second.
   */
  clientCommandsPerS: number;
  luaInnerCallsPerS: number;
  /** Calls per second of the busiest commands, Lua's inner calls included. */
  topCommands: { command: string; perS: number }[];
  /**
   * At the window's end, how old the stored sample of the least recently watched migration was
   * (sim clock seconds): every migration is watched, not just some, if this stays near the
   * sample interval.
   */
  oldestSampleS: number;
  /** `migration.progress` events written per second in the window (one per migration per 10 s). */
  progressEventsPerS: number;
}

const PER_SOURCE = 4;
const CLK_TCK = 100;

function fleetYaml(sources: number): string {
  const lines = ['fleet:', '  driver: sim', '  hosts:'];
  for (let s = 0; s < sources; s++) {
    // A pair of hosts per AZ: each drain has its own destination (plans made one after another
    // do not see each other's placements, and would all pick the same emptiest hosts).
    lines.push(`    - { name: src-${s}, vcpus: 256, memoryGiB: 1024, nicGbps: 10, az: az-${s} }`);
    lines.push(`    - { name: dst-${s}, vcpus: 256, memoryGiB: 1024, nicGbps: 10, az: az-${s} }`);
  }
  lines.push('  instances:');
  for (let s = 0; s < sources; s++)
    for (let v = 0; v < PER_SOURCE; v++)
      // 128 GiB at a quarter of 10 Gb/s: about 7 minutes each, longer than setup and window.
      lines.push(
        `    - { name: vm-${s}-${v}, host: src-${s}, vcpus: 2, memoryGiB: 128, dirtyMiBps: 1, downtimeSloMs: 500 }`,
      );
  return lines.join('\n');
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function redisCounts(redis: Redis): Promise<{ total: number; calls: Map<string, number> }> {
  const stats = await redis.info('stats');
  const total = Number(/total_commands_processed:(\d+)/.exec(stats)?.[1]);
  const calls = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+)/g))
    calls.set(m[1]!, Number(m[2]));
  return { total, calls };
}

/** Runs the overhead scenario and returns its figures (see the module comment). */
export async function runOverhead(options: OverheadOptions): Promise<OverheadFigures> {
  const sources = options.sources ?? 250;
  const windowS = options.windowS ?? 60;
  const migrations = sources * PER_SOURCE;
  const { log } = options;
  const server = await startRedis();
  const children: Child[] = [];
  const prefix = '{ferry-overhead}';
  const file = join(server.dir, 'overhead.yaml');
  const text = `${fleetYaml(sources)}
policy: { maxGlobal: ${migrations}, maxPerSource: ${PER_SOURCE}, maxPerDestination: ${PER_SOURCE} }
redis:
  prefix: "${prefix}"
  worker: { concurrency: ${sources} }
`;
  writeFileSync(file, text);
  const engines: { close(): Promise<void> }[] = [];
  const stops: (() => void)[] = [];
  const redis = new Redis(server.url);
  try {
    const sim = spawnTs('test/processes/sim-server.ts', ['--config', file]);
    children.push(sim);
    const simUrl = `http://127.0.0.1:${(await sim.waitFor(/^listening \d+/)).split(' ')[1]}`;
    const driver = new RemoteSimDriver({ url: simUrl });
    const worker = spawnTs('test/processes/worker.ts', [
      '--config',
      file,
      '--redis',
      server.url,
      '--sim-url',
      simUrl,
      '--name',
      'overhead-worker',
    ]);
    children.push(worker);
    await worker.waitFor(/^ready /, 60_000);
    const config = parseConfig(text, file);
    const engine = createDurableEngine({
      config: { ...config, redis: { ...config.redis!, url: server.url } },
      driver,
      clock: await simClock(driver, 1),
      via: 'bench',
    });
    engines.push(engine);
    log(`overhead: starting ${sources} evacuations of ${PER_SOURCE} VMs`);
    const ids: string[] = [];
    for (let s = 0; s < sources; s++)
      ids.push(
        (await engine.service.evacuate({ source: `src-${s}`, requestedBy: 'U_BENCH', maintenance: false }))
          .id,
      );
    await until(
      async () => {
        const running = (await driver.snapshot()).migrations.filter((m) => m.phase === 'precopy').length;
        log(`overhead: ${running} of ${migrations} migrations running`);
        return running >= migrations;
      },
      `${migrations} migrations running`,
      Number(process.env.FERRY_OVERHEAD_SETUP_MS ?? 300_000),
      500,
    ).catch(async (err: Error) => {
      const states = await Promise.all(ids.map(async (id) => (await engine.service.status(id)).state));
      throw new Error(
        `${err.message} (evacuations: ${states.join(' ')}; worker: ${worker.stderr().slice(-2000)})`,
      );
    });
    const pid = worker.process.pid!;
    const events = async () =>
      (await Promise.all(ids.map((id) => engine.store.events(id))))
        .flat()
        .filter((e) => e.type === 'migration.progress').length;
    const progress0 = await events();
    // redis-cli's MONITOR (ioredis's monitor mode loses its place in a busy stream): a line per
    // command, `<time> [<db> lua] ...` for the calls a script made.
    const monitor = spawn('redis-cli', ['-u', server.url, 'monitor'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    // Counted by Redis's own clock: the lines stamped within the window (read from Redis's TIME).
    const seen = { lua: 0, clients: 0, from: Number.POSITIVE_INFINITY, to: Number.POSITIVE_INFINITY };
    const redisTime = async () => {
      const [s, us] = await redis.time();
      return Number(s) + Number(us) / 1e6;
    };
    await new Promise<void>((resolve) => {
      createInterface({ input: monitor.stdout }).on('line', (line) => {
        if (line === 'OK') resolve();
        const stamp = /^(\d+\.\d+) \[\d+ (\S+)/.exec(line);
        if (!stamp || Number(stamp[1]) < seen.from || Number(stamp[1]) > seen.to) return;
        if (stamp[2] === 'lua]') seen.lua++;
        else seen.clients++;
      });
    });
    const cpu0 = cpuSeconds(pid);
    const redis0 = await redisCounts(redis);
    seen.from = await redisTime();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowS * 1000));
    const elapsedS = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(pid) - cpu0;
    seen.to = await redisTime();
    const redis1 = await redisCounts(redis);
    // The monitor's last lines of the window are still in the pipe.
    await new Promise((r) => setTimeout(r, 1000));
    const progress1 = await events();
    const now = (await driver.snapshot()).at;
    const records = (
      await Promise.all(
        ids.map(async (id) =>
          engine.store.loadMigrations((await engine.service.status(id)).migrations.map((m) => m.id)),
        ),
      )
    ).flat();
    const oldestSampleS =
      Math.max(...records.map((r) => now - (r.migration.lastSample?.at ?? Number.NEGATIVE_INFINITY))) / 1000;
    const still = (await driver.snapshot()).migrations.filter((m) => m.phase === 'precopy').length;
    if (still < migrations) log(`overhead: only ${still} still running at the window's end`);
    const deltas = [...redis1.calls].map(([command, n]) => ({
      command,
      perS: (n - (redis0.calls.get(command) ?? 0)) / elapsedS,
    }));
    const scripts = deltas
      .filter((d) => ['eval', 'evalsha', 'fcall', 'eval_ro', 'evalsha_ro'].includes(d.command))
      .reduce((sum, d) => sum + d.perS, 0);
    return {
      migrations,
      windowS: elapsedS,
      workerCpuS: cpu,
      workerCores: cpu / elapsedS,
      cpuSecondsPerMigrationHour: cpu / ((migrations * elapsedS) / 3600),
      // The two INFO calls of the first sample are inside the delta: negligible, but counted.
      redisCommandsPerS: (redis1.total - redis0.total) / elapsedS,
      redisScriptsPerS: scripts,
      clientCommandsPerS: seen.clients / elapsedS,
      luaInnerCallsPerS: seen.lua / elapsedS,
      topCommands: deltas.sort((a, b) => b.perS - a.perS).slice(0, 8),
      oldestSampleS,
      // The event reads above are outside the Redis window (taken before and after it).
      progressEventsPerS: (progress1 - progress0) / elapsedS,
    };
  } finally {
    for (const stop of stops) stop();
    await Promise.all(engines.map((e) => e.close()));
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    redis.disconnect();
    await server.stop();
  }
}

/** The figures as a short markdown table, with the targets beside them. */
export function formatOverhead(f: OverheadFigures): string {
  // The targets are for 1,000 migrations: a smaller run is not held to them.
  const mark = (ok: boolean) => (f.migrations < 1000 ? '(for 1,000)' : ok ? '✓' : '✗ missed');
  return [
    `### overhead (${f.migrations} concurrent migrations, one worker process, ${f.windowS.toFixed(0)} s window)`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    `| worker CPU | ${f.workerCpuS.toFixed(1)} s = ${f.workerCores.toFixed(2)} cores | < 1 core ${mark(f.workerCores < 1)} |`,
    `| CPU seconds per migration-hour | ${f.cpuSecondsPerMigrationHour.toFixed(2)} | – |`,
    `| Redis commands/s (total_commands_processed, scripts' inner calls included) | ${f.redisCommandsPerS.toFixed(0)} | < 2000 ${mark(f.redisCommandsPerS < 2000)} |`,
    `| of which sent by clients / called inside Lua scripts (MONITOR) | ${f.clientCommandsPerS.toFixed(0)} / ${f.luaInnerCallsPerS.toFixed(0)} | – |`,
    `| scripts run/s (EVAL/EVALSHA/FCALL) | ${f.redisScriptsPerS.toFixed(0)} | – |`,
    `| oldest stored sample at the window's end | ${f.oldestSampleS.toFixed(1)} s | about the sample interval |`,
    `| migration.progress events/s | ${f.progressEventsPerS.toFixed(1)} | ${(f.migrations / 10).toFixed(0)} (one per migration per 10 s) |`,
    '',
    `Busiest commands (calls/s, inner calls included): ${f.topCommands.map((c) => `${c.command} ${c.perS.toFixed(0)}`).join(', ')}.`,
  ].join('\n');
}
