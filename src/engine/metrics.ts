import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import { bounded, LIMITS } from './config.js';
import { ConfigError, toFerryError } from './errors.js';
import type { Log } from './log.js';
import { type EvacuationState, type FerryEvent, FINAL_EVACUATION_STATES, type Strategy } from './model.js';
import type { EngineStore } from './ports.js';

/**
 * ferry's Prometheus metrics, in a Registry of its own (never prom-client's global one, which a
 * host bot may fill with its own). Two kinds:
 * - counters and histograms of what this process committed (migrations started and ended, their
 *   duration, downtime and bytes, evacuations finished, approvals decided): each event is
 *   committed by one process, so `sum()` across processes counts each once;
 * - gauges read from Redis at scrape time (open evacuations, migrations in flight, approvals
 *   waiting, queue depth): the whole deployment's state, the same from every process, so
 *   alert on `max()`.
 * The host serves `registry` (`await registry.metrics()`, `registry.contentType`); ferry-bot and
 * ferry-worker serve it with `serveMetrics`.
 */

/** The config's `metrics:` section: where ferry-bot and ferry-worker serve /metrics (`--metrics-port` overrides the port). */
export const metricsConfigSchema = z.strictObject({
  /** Absent: no metrics endpoint. 0 picks a free port (tests). */
  port: bounded({ ...LIMITS.port, min: 0 }).optional(),
  /** Loopback by default; `0.0.0.0` for a Prometheus on another machine. */
  host: z.string().min(1).default('127.0.0.1'),
});

export type MetricsConfig = z.output<typeof metricsConfigSchema>;

/** Where the scrape-time gauges are read: the durable engine's store and queue. */
export interface MetricsSources {
  store: Pick<EngineStore, 'openEvacuations' | 'activeMigrations'>;
  queue?: { getJobCounts(...states: string[]): Promise<Record<string, number>> };
}

/** Seconds. Migrations last seconds to an hour; downtimes are milliseconds up to a few seconds. */
const DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
const DOWNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5];
const QUEUE_STATES = ['waiting', 'delayed', 'active', 'prioritized'];
/** An evacuation is running from its start to its end; planned and scheduled ones wait. */
const WAITING_STATES: readonly EvacuationState[] = ['planned', 'scheduled'];
/** Strategies of migrations started here, until they end (bounded: a takeover's ends are `unknown`). */
const MAX_REMEMBERED = 10_000;

export class FerryMetrics {
  readonly registry = new Registry();
  private readonly sources: MetricsSources[] = [];
  private readonly strategies = new Map<string, Strategy>();

  private readonly migrations = new Counter({
    name: 'ferry_migrations_total',
    help: 'Migrations started and ended by this process, by state (started, completed, failed, aborted) and strategy',
    labelNames: ['state', 'strategy'] as const,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'ferry_migration_duration_seconds',
    help: 'Duration of completed migrations, start to switchover done',
    labelNames: ['strategy'] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly downtime = new Histogram({
    name: 'ferry_migration_downtime_seconds',
    help: 'Measured guest downtime of completed migrations (a lost migration found on its destination has none measured)',
    labelNames: ['strategy'] as const,
    buckets: DOWNTIME_BUCKETS,
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'ferry_migration_bytes_sent_total',
    help: 'Bytes sent by migrations that ended, by how they ended',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly evacuationsFinished = new Counter({
    name: 'ferry_evacuations_finished_total',
    help: 'Evacuations that ended, by final state',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly approvals = new Counter({
    name: 'ferry_approvals_decided_total',
    help: 'Approval requests decided, by outcome (approved, rejected, expired)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'ferry_metrics_read_errors_total',
    help: 'Scrapes whose gauges could not be read from Redis (their values are the last read)',
    registers: [this.registry],
  });

  constructor(private readonly log: Log = () => {}) {
    // One read of Redis per scrape, shared by the gauges below.
    let reading: Promise<Snapshot | undefined> | undefined;
    const snapshot = () => {
      reading ??= this.read().finally(() => {
        reading = undefined;
      });
      return reading;
    };
    /** A gauge set at each scrape from the snapshot: one value, or one per state. */
    const gauge = (
      name: string,
      help: string,
      values: (s: Snapshot) => number | Map<string, number> | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['state'] as const,
        registers: [this.registry],
        async collect() {
          const s = await snapshot();
          const value = s && values(s);
          if (value === undefined) return;
          if (typeof value === 'number') {
            this.set(value);
            return;
          }
          this.reset();
          for (const [state, n] of value) this.set({ state }, n);
        },
      });
    gauge(
      'ferry_evacuations_running',
      'Evacuations started and not ended (draining, paused, in maintenance)',
      (s) => s.running,
    );
    gauge('ferry_evacuations_open', 'Evacuations not ended, by state', (s) => s.evacuations);
    gauge('ferry_migrations_in_flight', 'Migrations started and not ended, by state', (s) => s.migrations);
    gauge(
      'ferry_approvals_waiting',
      'Risky switchovers waiting for an approver',
      (s) => s.migrations.get('awaiting-approval') ?? 0,
    );
    gauge(
      'ferry_queue_jobs',
      'Evacuation jobs in the durable queue, by state (waiting, delayed, active, prioritized)',
      (s) => s.queue && new Map(QUEUE_STATES.map((state) => [state, s.queue?.[state] ?? 0])),
    );
  }

  /** Reads the gauges from `sources` at every scrape (the durable engine registers its store and queue). */
  watch(sources: MetricsSources): void {
    this.sources.push(sources);
  }

  /** Counts what a commit made durable; called by the store after each commit succeeded. */
  observe(events: readonly FerryEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'migration.started': {
          const strategy = event.prediction.strategy;
          if (this.strategies.size >= MAX_REMEMBERED) this.strategies.clear();
          this.strategies.set(event.migrationId, strategy);
          this.migrations.inc({ state: 'started', strategy });
          break;
        }
        case 'migration.completed':
          this.strategies.delete(event.migrationId);
          this.migrations.inc({ state: 'completed', strategy: event.strategy });
          this.duration.observe({ strategy: event.strategy }, event.durationMs / 1000);
          if (event.cause === undefined)
            this.downtime.observe({ strategy: event.strategy }, event.downtimeMs / 1000);
          this.bytes.inc({ state: 'completed' }, event.bytesSent);
          break;
        case 'migration.failed':
        case 'migration.aborted': {
          const state = event.type === 'migration.failed' ? 'failed' : 'aborted';
          const strategy = this.strategies.get(event.migrationId) ?? 'unknown';
          this.strategies.delete(event.migrationId);
          this.migrations.inc({ state, strategy });
          this.bytes.inc({ state }, event.bytesSent);
          break;
        }
        case 'approval.decided':
          this.approvals.inc({ outcome: event.decision.outcome });
          break;
        case 'evacuation.finished':
          this.evacuationsFinished.inc({ state: event.state });
          break;
      }
    }
  }

  private async read(): Promise<Snapshot | undefined> {
    if (this.sources.length === 0) return undefined;
    try {
      const snapshot: Snapshot = { running: 0, evacuations: new Map(), migrations: new Map() };
      for (const { store, queue } of this.sources) {
        const [evacuations, active, counts] = await Promise.all([
          // The open index: a scrape never reads every evacuation kept.
          store.openEvacuations(),
          store.activeMigrations(),
          queue?.getJobCounts(...QUEUE_STATES),
        ]);
        for (const { state } of evacuations) {
          if (FINAL_EVACUATION_STATES.includes(state)) continue;
          snapshot.evacuations.set(state, (snapshot.evacuations.get(state) ?? 0) + 1);
          if (!WAITING_STATES.includes(state)) snapshot.running++;
        }
        for (const { migration } of active)
          snapshot.migrations.set(migration.state, (snapshot.migrations.get(migration.state) ?? 0) + 1);
        if (counts) snapshot.queue = counts;
      }
      return snapshot;
    } catch (err) {
      this.errors.inc();
      this.log(`metrics: reading the gauges failed: ${toFerryError(err).message}`, { level: 'warn' });
      return undefined;
    }
  }
}

interface Snapshot {
  running: number;
  evacuations: Map<string, number>;
  migrations: Map<string, number>;
  queue?: Record<string, number>;
}

/** Adds process metrics (CPU, memory, event-loop lag) as `ferry_process_*` etc.: for ferry's own programs, not a host's. */
export function addProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'ferry_' });
}

/** Serves `registry` at `GET /metrics` on `port` (0: a free one) of `host`; 404 elsewhere. */
export async function serveMetrics(
  registry: Registry,
  options: { port: number; host?: string; log?: Log },
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ferry serves /metrics only\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err) => {
        options.log?.(`metrics: ${toFerryError(err).message}`, { level: 'error' });
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`cannot serve metrics on ${host}:${options.port}: ${err.code ?? err.message}`)),
    );
    server.listen(options.port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
