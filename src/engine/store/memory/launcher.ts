import { toFerryError } from '../../errors.js';
import { type RunnerDeps, runEvacuation } from '../../evacuation/runner.js';
import type { Evacuation } from '../../model.js';
import type { Launcher } from '../../ports.js';

/**
 * Runs evacuations inside this process at their time, on the injected clock: the CLI, the bench
 * and tests use it with the simulator's virtual clock. The durable bot uses the queue instead.
 */
export class InProcessLauncher implements Launcher {
  private readonly running = new Map<string, Promise<Evacuation | undefined>>();
  /** The latest launch of each evacuation: an earlier one that wakes up later does nothing. */
  private readonly generation = new Map<string, number>();
  /** Evacuations whose run has begun in this process. */
  private readonly started = new Set<string>();

  constructor(private readonly deps: RunnerDeps) {}

  async launch(evacuationId: string, startsAt: number): Promise<void> {
    // Launched again (a campaign step started twice) while it already runs here: a no-op.
    if (this.started.has(evacuationId)) return;
    const mine = (this.generation.get(evacuationId) ?? 0) + 1;
    this.generation.set(evacuationId, mine);
    const run = (async () => {
      const wait = startsAt - this.deps.clock.now();
      if (wait > 0) await this.deps.clock.sleep(wait);
      if (this.generation.get(evacuationId) !== mine) return undefined;
      this.started.add(evacuationId);
      try {
        return await runEvacuation(evacuationId, this.deps);
      } catch (err) {
        this.deps.log?.(`${evacuationId}: ${toFerryError(err).userMessage}`);
        throw err;
      }
    })();
    this.running.set(evacuationId, run);
  }

  async cancel(evacuationId: string): Promise<void> {
    this.generation.set(evacuationId, (this.generation.get(evacuationId) ?? 0) + 1);
  }

  /** Resolves with the evacuation once it has ended (undefined when cancelled). */
  async finished(evacuationId: string): Promise<Evacuation | undefined> {
    return this.running.get(evacuationId);
  }
}
