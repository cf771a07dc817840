import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectMovedOnce, finished, Harness, hosts, vms } from './harness.js';
import { expectCompleteStream } from './support.js';

/** Worker processes that restart and share one queue, driving the sim server in its own process. */

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterEach(async () => {
  await harness.cleanup();
});

afterAll(async () => {
  await harness?.stop();
});

const SMALL_FLEET = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3', 'hv4', 'hv5', 'hv6'])}
  instances:
${vms('hv1', 2, 2)}
${vms('hv2', 2, 2)}
${vms('hv3', 2, 2)}
${vms('hv4', 2, 2)}
policy:
  streamCapGbps: 2
  maxPerSource: 1
`;

describe('worker processes', { timeout: 60_000 }, () => {
  it('fire a scheduled evacuation after the worker process restarts', async () => {
    const f = await harness.fixture(SMALL_FLEET, 10);
    const first = await f.worker('w1');
    const { id, startsAt } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 2000 * f.speed },
    });
    expect((await f.engine.service.status(id)).state).toBe('scheduled');
    await first.kill('SIGKILL');
    // The start passes with no worker alive; the delayed job waits in Redis.
    await new Promise((r) => setTimeout(r, 2500));
    expect((await f.engine.service.status(id)).state).toBe('scheduled');
    const second = await f.worker('w2');
    await second.waitFor(new RegExp(`^ran ${id} completed`), 30_000);
    const done = await f.engine.service.status(id);
    expect(done.startedAt).toBeGreaterThanOrEqual(startsAt);
    expect((await f.engine.launcher.job(id))?.processedBy).toBe('w2');
    const events = await f.engine.service.events(id);
    expectCompleteStream(events);
    await expectMovedOnce(f.sim, events);
  });

  it('share one queue: two workers split several evacuations between them', async () => {
    const f = await harness.fixture(SMALL_FLEET, 10);
    const [a, b] = await Promise.all([f.worker('w1'), f.worker('w2')]);
    const ids: string[] = [];
    for (const source of ['hv1', 'hv2', 'hv3', 'hv4'])
      ids.push((await f.engine.service.evacuate({ source, requestedBy: 'U_ALICE', maintenance: false })).id);
    for (const id of ids) expect((await finished(f.engine, id, 45_000)).state).toBe('completed');
    const by = await Promise.all(ids.map(async (id) => (await f.engine.launcher.job(id))?.processedBy));
    // Each worker runs at most 2 at once (concurrency 2): neither can have taken all four.
    expect(new Set(by)).toEqual(new Set(['w1', 'w2']));
    // A worker prints `ran` once BullMQ has recorded the job done, a moment after the commit
    // that ended the evacuation: wait for the lines, then check each evacuation ran once.
    await Promise.all(
      ids.map((id) => Promise.any([a, b].map((w) => w.waitFor(new RegExp(`^ran ${id} `), 15_000)))),
    );
    const ran = [...a.lines, ...b.lines].filter((l) => l.startsWith('ran ')).map((l) => l.split(' ')[1]);
    expect(ran.sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const events = await f.engine.service.events(id);
      expectCompleteStream(events);
      await expectMovedOnce(f.sim, events);
    }
  });
});
