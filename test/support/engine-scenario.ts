import { expect, onTestFailed } from 'vitest';
import type { Clock } from '../../src/engine/clock.js';
import { createLocalEngine, type FerryConfig } from '../../src/engine/compose.js';
import type { Driver } from '../../src/engine/drivers/driver.js';
import { runEvacuation } from '../../src/engine/evacuation/runner.js';
import type { Evacuation, FerryEvent } from '../../src/engine/model.js';

/**
 * What an engine scenario against a real back end needs: the engine in one process over memory
 * ports, a runner the test can kill, and waits on the event stream. The one place such tests
 * name the engine's composition (so a move of the engine's files touches this file only).
 */

export const ofType = <T extends FerryEvent['type']>(events: FerryEvent[], type: T) =>
  events.filter((e): e is Extract<FerryEvent, { type: T }> => e.type === type);

const ENDINGS = ['migration.completed', 'migration.failed', 'migration.aborted'];

/** Exactly one start and one ending per migration, and one evacuation.finished. */
export function expectOneOfEach(
  events: FerryEvent[],
  instance: string,
  ending: (typeof ENDINGS)[number],
): void {
  const mine = events.filter((e) => 'instance' in e && e.instance === instance);
  expect(ofType(mine, 'migration.started')).toHaveLength(1);
  expect(mine.filter((e) => ENDINGS.includes(e.type)).map((e) => e.type)).toEqual([ending]);
  expect(ofType(events, 'evacuation.started')).toHaveLength(1);
  expect(ofType(events, 'evacuation.finished')).toHaveLength(1);
}

/** A clock the test can stop: the runner's next sleep throws, as if its process had died. */
export function stoppableClock(): Clock & { stop(): void } {
  let stopped = false;
  return {
    now: () => Date.now(),
    sleep: (ms) =>
      stopped
        ? Promise.reject(new Error('runner stopped by the test'))
        : new Promise((resolve) => setTimeout(resolve, ms)),
    stop: () => {
      stopped = true;
    },
  };
}

/**
 * Polls an evacuation's event stream until `pick` finds something; throws after `timeoutMs`, or
 * as soon as the evacuation has finished without it.
 */
export async function waitForEvent<T>(
  events: () => Promise<FerryEvent[]>,
  pick: (events: FerryEvent[]) => T | undefined,
  timeoutMs = 90_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await events();
    const found = pick(all);
    if (found !== undefined) return found;
    const over = all.some((e) => e.type === 'evacuation.finished');
    if (over || Date.now() > deadline)
      throw new Error(
        `not in the stream ${over ? 'of the finished evacuation' : `after ${timeoutMs} ms`}: ${all.map((e) => e.type).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type ScenarioEngine = ReturnType<typeof createLocalEngine> & {
  driver: Driver;
  clock: ReturnType<typeof stoppableClock>;
  /** Starts an evacuation of `source` as U_ALICE; `finished` settles when its runner ends. */
  evacuate(source: string): Promise<{ id: string; finished: Promise<Evacuation> }>;
  /** Reads the stored evacuation every `everyMs` until it has ended or `over()` says stop. */
  poll(
    id: string,
    each: (evacuation: Evacuation) => void,
    over: () => boolean,
    everyMs?: number,
  ): Promise<void>;
  /** A replacement runner (a new process) resuming `id` from the store with `driver`. */
  resume(
    id: string,
    driver: Driver,
  ): { clock: ReturnType<typeof stoppableClock>; finished: Promise<Evacuation> };
};

/**
 * EngineService + in-process launcher + memory ports over `driver`, with a stoppable clock. The
 * runner's log is printed when the test fails. `track` receives every clock and run to stop
 * and settle after the test.
 */
export function scenarioEngine(
  config: FerryConfig,
  driver: Driver,
  track: { clocks: { stop(): void }[]; runs: Promise<unknown>[] },
): ScenarioEngine {
  const clock = stoppableClock();
  track.clocks.push(clock);
  const lines: string[] = [];
  const log = (line: string) => lines.push(`${new Date().toISOString()} ${line}`);
  const engine = createLocalEngine({ config, driver, clock, log });
  const ids: string[] = [];
  onTestFailed(async () => {
    const events = (await Promise.all(ids.map((id) => engine.service.events(id)))).flat();
    const shown = events.map((e) => JSON.stringify(e).slice(0, 400));
    console.log(`runner log:\n${lines.join('\n')}\nevents:\n${shown.join('\n')}`);
  });
  return {
    ...engine,
    driver,
    clock,
    async evacuate(source) {
      const { id } = await engine.service.evacuate({
        source,
        requestedBy: 'U_ALICE',
        reason: 'engine.test',
        maintenance: false,
      });
      ids.push(id);
      const finished = engine.launcher.finished(id) as Promise<Evacuation>;
      track.runs.push(finished);
      return { id, finished };
    },
    async poll(id, each, over, everyMs = 200) {
      while (!over()) {
        const evacuation = await engine.service.status(id);
        each(evacuation);
        if (evacuation.endedAt !== undefined) return;
        await new Promise((r) => setTimeout(r, everyMs));
      }
    },
    resume(id, replacement) {
      const next = stoppableClock();
      track.clocks.push(next);
      const finished = runEvacuation(id, {
        driver: replacement,
        store: engine.store,
        approvals: engine.approvals,
        control: engine.control,
        clock: next,
        policy: config.policy,
        log,
      });
      track.runs.push(finished);
      return { clock: next, finished };
    },
  };
}
