import { hostname } from 'node:os';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Clock } from '../../clock.js';
import { ConflictError, FerryError, toFerryError } from '../../errors.js';
import { abandonEvacuation, type RunnerDeps, runEvacuation } from '../../evacuation/runner.js';
import { Ticker } from '../../evacuation/tick.js';
import type { Log, LogFields } from '../../log.js';
import { type Evacuation, FINAL_EVACUATION_STATES } from '../../model.js';
import type { Launcher } from '../../ports.js';
import { type RedisClient, type WorkerTuning, workerTuningSchema } from './config.js';
import { LockLostError, SchemaVersionError } from './errors.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import type { RedisStore } from './store.js';

/**
 * Runs evacuations through BullMQ: one job per evacuation in the `evacuations` queue, its id the
 * evacuation's id, delayed until the evacuation's start. Any number of worker processes share
 * the queue; a job whose worker dies is found stalled and re-run elsewhere, and the runner
 * carries on from the store (migrations are keyed `${evacuationId}:${instance}` and drivers'
 * `start` returns the running one's handle, so nothing starts twice).
 */

export const EVACUATION_QUEUE = 'evacuations';

export interface EvacuationJobData {
  evacuationId: string;
  /** Epoch ms on the engine's clock. */
  startsAt: number;
}

export interface BullLauncherOptions {
  redis: RedisClient;
  prefix: string;
  clock: Clock;
  tuning?: Partial<WorkerTuning>;
  /**
   * Clock milliseconds per wall-clock millisecond (an accelerated clock's factor; default 1).
   * BullMQ delays run on the wall clock; the worker sleeps on `clock` for any remainder.
   */
  clockRate?: number;
  log?: Log;
}

/** What a worker needs to run evacuations: the runner's deps (the store must be a RedisStore). */
export type WorkerDeps = Omit<RunnerDeps, 'store' | 'onStep'> & {
  store: RedisStore;
  /** Worker name shown on jobs (`processedBy`); default `host:pid`. */
  name?: string;
  /** Replaces runEvacuation (tests). */
  run?: (id: string, deps: RunnerDeps) => Promise<Evacuation>;
};

/** Thrown at a step boundary by a worker that is closing: its evacuation goes back to the queue. */
class HandOver extends Error {}

export class BullLauncher implements Launcher {
  readonly queue: Queue<EvacuationJobData>;
  readonly tuning: WorkerTuning;
  private readonly keys: Keys;
  private readonly workers = new Set<Worker<EvacuationJobData>>();
  /** The reconciler's timer while a worker runs here (one per process, however many workers). */
  private reconciling?: NodeJS.Timeout;
  /** Set by `close`: running evacuations are handed over at their next step instead of run to the end. */
  private closing = false;

  constructor(private readonly options: BullLauncherOptions) {
    this.tuning = workerTuningSchema.parse(options.tuning ?? {});
    this.keys = new Keys(options.prefix);
    this.queue = new Queue<EvacuationJobData>(EVACUATION_QUEUE, {
      connection: options.redis,
      prefix: options.prefix,
    });
    this.queue.on('error', (err) => this.log(`queue: ${err.message}`, { level: 'error' }));
  }

  /** Queues the evacuation, delayed until `startsAt`; launching the same id twice is a no-op. */
  async launch(evacuationId: string, startsAt: number): Promise<void> {
    const delay = Math.max(
      0,
      Math.ceil((startsAt - this.options.clock.now()) / (this.options.clockRate ?? 1)),
    );
    await this.queue.add(
      'evacuation',
      { evacuationId, startsAt },
      {
        jobId: evacuationId,
        delay,
        attempts: this.tuning.attempts,
        backoff: { type: 'fixed', delay: this.tuning.backoffMs },
        // Kept a day for `processedBy` and post-mortems; ids are unique per evacuation anyway.
        removeOnComplete: { age: 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    );
    // The queue writes on this same client (BullMQ shares a client it is given).
    await confirmReplicated(
      this.options.redis,
      this.keys.jobLock(EVACUATION_QUEUE, evacuationId),
      'a launch',
    );
  }

  /** Withdraws a job that has not started; a running one cannot be withdrawn (abort it instead). */
  async cancel(evacuationId: string): Promise<void> {
    const removed = await this.queue.remove(evacuationId);
    if (removed === 1) return;
    const job = await this.queue.getJob(evacuationId);
    if (job && (await job.getState()) === 'active')
      throw new ConflictError(`${evacuationId} has just started; abort it with /ferry abort ${evacuationId}`);
  }

  /** The job of an evacuation (state, `processedBy`, attempts), while BullMQ keeps it. */
  async job(evacuationId: string): Promise<Job<EvacuationJobData> | undefined> {
    return (await this.queue.getJob(evacuationId)) ?? undefined;
  }

  /** Starts a worker processing evacuations in this process; close it with `worker.close()`. */
  startWorker(deps: WorkerDeps): Worker<EvacuationJobData> {
    const { tuning } = this;
    // One watch loop per worker: every evacuation it runs steps on this ticker's ticks.
    const ticker = new Ticker(deps.clock, deps.policy.sampleIntervalS * 1000);
    const worker = new Worker<EvacuationJobData>(
      EVACUATION_QUEUE,
      (job, token) => this.process(job, token, deps, ticker),
      {
        connection: this.options.redis,
        prefix: this.options.prefix,
        name: deps.name ?? `${hostname()}:${process.pid}`,
        concurrency: tuning.concurrency,
        lockDuration: tuning.lockDurationMs,
        stalledInterval: tuning.stalledIntervalMs,
        maxStalledCount: tuning.maxStalls,
        // Short polls: a worker notices a closed connection (and shuts down) quickly.
        drainDelay: 1,
      },
    );
    worker.on('error', (err) => this.log(`worker: ${err.message}`, { level: 'error' }));
    worker.on('failed', (job, err) =>
      this.log(`${job?.id ?? '?'}: attempt failed: ${err.message}`, { evacuationId: job?.id, level: 'warn' }),
    );
    this.workers.add(worker);
    worker.on('closed', () => this.workers.delete(worker));
    this.reconcileEvery(deps.store);
    return worker;
  }

  /**
   * The record is the source of truth, not BullMQ's job. BullMQ's own moves (a job completed,
   * retried, locked) are not WAITed for, so a failover may take them back or, through a command
   * the client re-sent to the new primary, keep a job's end without the commits before it: an
   * evacuation still running by its record whose job is gone or finished would never run again.
   * Each such evacuation (started, not ended, read settled) is queued again; the runner carries
   * on from the store, so a second reconciler doing the same, or a job that was in fact about to
   * end, costs one idle run. Returns the ids queued again.
   */
  async reconcile(store: RedisStore): Promise<string[]> {
    const requeued: string[] = [];
    for (const open of await store.openEvacuations()) {
      const id = open.request.id;
      if (open.startedAt === undefined) continue;
      const job = await this.queue.getJob(id);
      const state = job ? await job.getState() : 'gone';
      if (state !== 'gone' && state !== 'completed' && state !== 'unknown') continue;
      // Read again and settled: it may have ended since, or be open only on this primary.
      const current = await store.loadEvacuation(id);
      await store.settle();
      if (!current || FINAL_EVACUATION_STATES.includes(current.state)) continue;
      if (job && state === 'completed') await job.retry('completed', { resetAttemptsMade: true });
      else {
        // A job hash in no list ('unknown') would make the launch a no-op: it goes first.
        if (job) await job.remove();
        await this.launch(id, this.options.clock.now());
      }
      this.log(`${id}: its job was ${state} while it runs; queued again`, {
        evacuationId: id,
        level: 'warn',
      });
      requeued.push(id);
    }
    return requeued;
  }

  private reconcileEvery(store: RedisStore): void {
    if (this.reconciling) return;
    const tick = () => {
      this.reconciling = setTimeout(async () => {
        await this.reconcile(store).catch((err: unknown) =>
          this.log(`reconcile: ${toFerryError(err).userMessage}`, { level: 'warn' }),
        );
        if (this.reconciling) tick();
      }, this.tuning.reconcileMs);
    };
    tick();
  }

  /**
   * Closes every worker started here and the queue; the Redis client stays open (its owner closes
   * it). An evacuation a worker is running goes back to the queue at its next step (committed),
   * for another worker — or this one restarted, a newer version in a rolling upgrade — to carry
   * on at once: BullMQ's graceful close would otherwise wait for it to end, hours perhaps.
   */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconciling);
    this.reconciling = undefined;
    await Promise.all([...this.workers].map((w) => w.close()));
    await this.queue.close();
  }

  private async process(
    job: Job<EvacuationJobData>,
    token: string | undefined,
    deps: WorkerDeps,
    ticker: Ticker,
  ) {
    const { evacuationId, startsAt } = job.data;
    if (!token) throw new FerryError('INTERNAL', `job ${job.id} came without a lock token`);
    const evacuation = await deps.store.loadEvacuation(evacuationId);
    if (!evacuation) throw new UnrecoverableError(`no evacuation ${evacuationId} in the store`);
    const early = startsAt - deps.clock.now();
    if (early > 0 && !FINAL_EVACUATION_STATES.includes(evacuation.state)) await deps.clock.sleep(early);

    const store = deps.store.fenced({
      key: this.keys.jobLock(EVACUATION_QUEUE, evacuationId),
      token,
      evacuationId,
    });
    // The job's lock is the heartbeat. BullMQ renews the locks of all of a worker's jobs in one
    // call every lockDurationMs / 2; a worker that lost one finds out at its next step, whose
    // commit the fenced store refuses (LockLostError), and stops: another one runs the evacuation.
    const onStep = async () => {
      if (this.closing) throw new HandOver();
    };
    const run = deps.run ?? runEvacuation;
    let final: Evacuation;
    this.log(`${evacuationId}: running here (attempt ${job.attemptsMade + 1})`, { evacuationId });
    try {
      final = await run(evacuationId, { ...deps, store, onStep, pace: ticker.pace() });
    } catch (err) {
      if (err instanceof HandOver) {
        // Waiting again at once, its attempts untouched; the runner resumes it from the store.
        await job.moveToDelayed(Date.now(), token);
        this.log(`${evacuationId}: handed over (this worker is closing)`, { evacuationId });
        throw new DelayedError();
      }
      this.log(`${evacuationId}: ${toFerryError(err).userMessage}`, { evacuationId, level: 'warn' });
      if (err instanceof LockLostError) throw new UnrecoverableError(err.userMessage);
      // Records of a newer ferry: retrying cannot help, and giving up would write over them.
      if (err instanceof SchemaVersionError) throw new UnrecoverableError(err.userMessage);
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        // The last attempt: nobody will run it again, so end it safely rather than leave VMs
        // migrating unwatched and the host locked.
        const cause = `ferry gave up after ${job.attemptsMade + 1} attempts: ${toFerryError(err).userMessage}`;
        await abandonEvacuation(evacuationId, cause, { ...deps, store });
      }
      throw err;
    }
    this.log(`${evacuationId}: ${final.state}`, { evacuationId, state: final.state });
    return { state: final.state };
  }

  private log(line: string, fields?: LogFields): void {
    this.options.log?.(line, fields);
  }
}
