import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FerryEvent } from '../../../../src/engine/model.js';
import { expectMovedOnce, type Fixture, finished, Harness, hosts, vms } from './harness.js';
import { type Child, expectCompleteStream, ofType, until } from './support.js';

/**
 * The crash test: a 20-VM evacuation whose worker processes are SIGKILLed again and again —
 * before it starts, mid-admission, with migrations running, while a VM awaits approval, and
 * near the end. Three workers are alive at a time; each kill hits the one running the evacuation
 * and a fresh process replaces it. It must still end with every VM moved exactly once (the sim
 * server counts the migrations it ran per VM) and a stream without gaps or duplicates.
 */

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness?.stop();
});

const SPEED = 5;
const VMS = 19;

// hv1-vm* converge on their own; hot-1 dirties memory faster than a stream can carry it, so it
// stalls and asks for post-copy, which a second person approves.
const FLEET = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3', 'hv4', 'hv5'])}
  instances:
${vms('hv1', VMS, 3)}
    - { name: hot-1, host: hv1, vcpus: 4, memoryGiB: 4, dirtyMiBps: 400 }
policy:
  streamCapGbps: 2
  allowAutoConverge: false
  askEarly: false
  stallTimeoutS: 10
`;

interface Progress {
  events: FerryEvent[];
  started: number;
  completed: number;
  awaitingApproval?: string;
  finished: boolean;
}

function progressOf(events: FerryEvent[]): Progress {
  const decided = new Set(ofType(events, 'approval.decided').map((e) => e.decision.approvalId));
  return {
    events,
    started: ofType(events, 'migration.started').length,
    completed: ofType(events, 'migration.completed').length,
    awaitingApproval: ofType(events, 'approval.requested')
      .map((e) => e.approval.id)
      .find((id) => !decided.has(id)),
    finished: ofType(events, 'evacuation.finished').length > 0,
  };
}

const TOTAL = VMS + 1;

/**
 * Where to strike; each fires once, when its moment arrives. The approval is given only after
 * the last strike, so hot-1 keeps the evacuation open until then and every point is reached
 * however long a takeover takes (the conditions only become true, never false again, except
 * mid-admission, which comes first and stays true until the last VM has started: a loaded
 * machine may well see the first VMs complete before the test looks).
 */
const KILL_POINTS: { name: string; when: (p: Progress) => boolean }[] = [
  { name: 'mid-admission', when: (p) => p.started >= 1 && p.started < TOTAL },
  { name: 'migrations running', when: (p) => p.completed >= 2 },
  { name: 'awaiting approval', when: (p) => p.awaitingApproval !== undefined },
  { name: 'a third in', when: (p) => p.completed >= 7 },
  { name: 'halfway', when: (p) => p.completed >= 11 },
  // Every other VM has moved; hot-1 waits for its approver.
  { name: 'near the end', when: (p) => p.completed >= TOTAL - 1 && p.awaitingApproval !== undefined },
];

// Its budget allows for a loaded machine: the takeovers are real BullMQ stall detections.
describe('a 20-VM evacuation under repeated SIGKILLs', { timeout: 240_000 }, () => {
  it('moves every VM exactly once and keeps a complete stream', async () => {
    const f = await harness.fixture(FLEET, SPEED);
    const workers = new Map<string, Child>();
    let next = 1;
    // A replacement whose startup is cut short by the test's end is no failure.
    const spawn = () => {
      const name = `w${next++}`;
      return f.worker(name).then(
        (child) => {
          workers.set(name, child);
        },
        () => {},
      );
    };
    // Three alive: a ready one takes over while the killed one's replacement is still starting.
    await Promise.all([spawn(), spawn(), spawn()]);

    const { id } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      reason: 'firmware',
      maintenance: false,
      when: { kind: 'in', ms: 1500 * SPEED },
    });
    const fired: string[] = [];

    // Before start: the evacuation is a delayed job; a worker dies, another will start it.
    await workers.get('w1')!.kill('SIGKILL');
    workers.delete('w1');
    fired.push('before start');
    void spawn();

    /** SIGKILLs the worker running the evacuation; resolves once another one has taken it over. */
    const strike = async (point: string) => {
      const job = await f.engine.launcher.job(id);
      const holder = job?.processedBy;
      const child = holder ? workers.get(holder) : undefined;
      if (!child || (await job?.getState()) !== 'active') return false;
      await child.kill('SIGKILL');
      workers.delete(holder!);
      fired.push(point);
      void spawn();
      await until(
        async () => {
          const now = await f.engine.launcher.job(id);
          return (
            (now?.processedBy !== holder && (await now?.getState()) === 'active') ||
            (await f.engine.service.status(id)).endedAt !== undefined
          );
        },
        `a takeover after the kill ${point}`,
        45_000,
        100,
      ).catch(async (err) => {
        const now = await f.engine.launcher.job(id);
        throw new Error(
          `${err.message}: job ${await now?.getState()} by ${now?.processedBy}, stalled ${now?.stalledCounter}, failed: ${now?.failedReason}; workers: ${[...workers.keys()]}\n${[...workers.values()].map((w) => w.stderr()).join('\n')}`,
        );
      });
      return true;
    };

    const events: FerryEvent[] = [];
    const pending = [...KILL_POINTS];
    const approved = new Set<string>();
    // Ends with what it was waiting for, rather than at the test's timeout with nothing said.
    const deadline = Date.now() + 130_000;
    while (!progressOf(events).finished) {
      events.push(...(await f.engine.service.events(id, events.length)));
      const progress = progressOf(events);
      if (Date.now() > deadline)
        throw new Error(
          `still running: ${progress.started} started, ${progress.completed} completed, awaiting ${progress.awaitingApproval}; struck ${fired.join(', ')}; waiting for ${pending.map((p) => p.name).join(', ')}`,
        );
      const due = pending.find((p) => p.when(progress));
      if (due && (await strike(due.name))) pending.splice(pending.indexOf(due), 1);
      if (progress.awaitingApproval && pending.length === 0 && !approved.has(progress.awaitingApproval)) {
        await f.engine.service.decide(progress.awaitingApproval, 'approved', 'U_BOB');
        approved.add(progress.awaitingApproval);
      }
      await new Promise((r) => setTimeout(r, 100));
    }

    const done = await finished(f.engine, id, 10_000);
    // Every point was hit (the order depends on when the approval is asked for).
    expect([...fired].sort()).toEqual(['before start', ...KILL_POINTS.map((p) => p.name)].sort());
    expect(done.state).toBe('completed');
    const all = await f.engine.service.events(id);
    expect(all).toEqual(events);
    expect(await f.engine.store.eventCount(id)).toBe(all.length);
    expectCompleteStream(all);
    expect(ofType(all, 'migration.started')).toHaveLength(TOTAL);
    expect(ofType(all, 'migration.completed')).toHaveLength(TOTAL);
    expect(ofType(all, 'evacuation.started')).toHaveLength(1);
    expect(
      ofType(all, 'approval.decided').map((e) => [e.instance, e.decision.outcome, e.decision.decidedBy]),
    ).toEqual([['hot-1', 'approved', 'U_BOB']]);
    await expectMovedOnce(f.sim, all);
    expect((await f.sim.inventory()).instances.filter((i) => i.host === 'hv1')).toEqual([]);
    expect(await f.engine.store.holder('hv1')).toBeUndefined();
  });
});

/** The worker running `id` now (BullMQ's processedBy), once the job is active. */
async function holderOf(f: Fixture, id: string): Promise<string> {
  return until(
    async () => {
      const job = await f.engine.launcher.job(id);
      return (await job?.getState()) === 'active' && job?.processedBy;
    },
    `a worker to run ${id}`,
    30_000,
    100,
  );
}

describe('a SIGKILL while maintenance runs', { timeout: 120_000 }, () => {
  // Two small VMs drain in seconds; the simulated maintenance then takes a simulated minute
  // (12 s of wall time at 5×), long enough to kill the worker while the command is under way.
  const MAINTAINED = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2', 'hv3'])}
  instances:
${vms('hv1', 2, 1)}
`;

  it('runs the maintenance once: the takeover reports its outcome unknown and waits for an operator', async () => {
    const f = await harness.fixture(MAINTAINED, SPEED);
    const workers = new Map<string, Child>();
    for (const name of ['m1', 'm2']) workers.set(name, await f.worker(name));
    const { id } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      reason: 'firmware',
      maintenance: true,
      when: { kind: 'now' },
    });
    // The durable mark is written before the command, and the simulator has started it.
    await until(
      async () => {
        const run = (await f.engine.service.status(id)).maintenanceRun;
        const started = (await f.sim.snapshot()).maintenanceRuns;
        return run?.outcome === undefined && run?.attempt === 1 && started.length === 1;
      },
      'the maintenance command to be under way',
      45_000,
      100,
    );
    const holder = await holderOf(f, id);
    await workers.get(holder)!.kill('SIGKILL');
    workers.delete(holder);

    // The other worker takes over, finds the mark without an outcome, and says so.
    const unknown = await until(
      async () => ofType(await f.engine.service.events(id), 'maintenance.unknown')[0],
      'the takeover to report the maintenance outcome unknown',
      45_000,
      100,
    );
    expect(unknown).toMatchObject({ host: 'hv1', attempt: 1, cause: expect.stringMatching(/may have run/) });
    const waiting = await f.engine.service.status(id);
    expect(waiting.state).toBe('maintenance');
    expect(waiting.maintenanceRun).toMatchObject({ attempt: 1, outcome: 'unknown' });
    expect((await f.sim.inventory()).hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(false);
    // Still waiting, not running it again, once the killed run would have ended on its own.
    const killedRunEnds = (await f.sim.snapshot()).maintenanceRuns[0]!.at + 60_000;
    await until(
      async () => (await f.sim.snapshot()).at > killedRunEnds + 5_000,
      'the killed run to be over',
      30_000,
    );
    expect((await f.engine.service.status(id)).state).toBe('maintenance');
    expect((await f.sim.snapshot()).maintenanceRuns).toHaveLength(1);

    await f.engine.service.maintenance(id, 'done', 'U_BOB');
    const done = await finished(f.engine, id, 30_000);
    expect(done.state).toBe('completed');
    const all = await f.engine.service.events(id);
    expectCompleteStream(all);
    expect(ofType(all, 'maintenance.started')).toHaveLength(1);
    expect(ofType(all, 'maintenance.finished')).toEqual([
      expect.objectContaining({ ok: true, by: 'U_BOB', output: 'confirmed done by U_BOB' }),
    ]);
    expect((await f.sim.snapshot()).maintenanceRuns).toHaveLength(1);
    expect((await f.sim.inventory()).hosts.find((h) => h.name === 'hv1')?.schedulable).toBe(true);
    expect(await f.engine.store.holder('hv1')).toBeUndefined();
  });
});

describe('a SIGKILL while an approval is pending, its expiry passing with no worker running', {
  timeout: 120_000,
}, () => {
  // hot-1 outruns its stream, stalls after 10 simulated seconds and asks for post-copy; the
  // request expires 30 simulated seconds later (6 s of wall time at 5×).
  const PENDING = `
fleet:
  driver: sim
  hosts:
${hosts(['hv1', 'hv2'])}
  instances:
    - { name: hot-1, host: hv1, vcpus: 4, memoryGiB: 4, dirtyMiBps: 400 }
policy:
  streamCapGbps: 2
  allowAutoConverge: false
  askEarly: false
  stallTimeoutS: 10
  approvalTimeoutS: 30
`;

  it('expires into the safe action after the restart (abort, the VM stays on its source) and refuses a late click', async () => {
    const f = await harness.fixture(PENDING, SPEED);
    const first = await f.worker('a1');
    const { id } = await f.engine.service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      reason: 'firmware',
      maintenance: false,
      when: { kind: 'now' },
    });
    const requested = await until(
      async () => ofType(await f.engine.service.events(id), 'approval.requested')[0],
      'hot-1 to ask for post-copy',
      60_000,
      100,
    );
    const { approval } = requested;
    expect(approval).toMatchObject({ instance: 'hot-1', kind: 'postcopy' });
    await first.kill('SIGKILL');

    // No worker runs while the request expires.
    await until(
      async () => (await f.sim.snapshot()).at > approval.expiresAt,
      'the approval to expire',
      30_000,
      100,
    );
    const late = await f.engine.service.decide(approval.id, 'approved', 'U_BOB');
    expect(late).toMatchObject({ outcome: 'expired', decidedBy: 'system' });

    await f.worker('a2');
    const done = await finished(f.engine, id, 60_000);
    expect(done.state).toBe('failed');
    const all = await f.engine.service.events(id);
    expectCompleteStream(all);
    expect(ofType(all, 'approval.decided').map((e) => [e.decision.outcome, e.decision.decidedBy])).toEqual([
      ['expired', 'system'],
    ]);
    expect(ofType(all, 'migration.switchover')).toEqual([]);
    expect(ofType(all, 'migration.aborted')).toEqual([expect.objectContaining({ instance: 'hot-1' })]);
    // The VM never left its source; its one migration was cancelled.
    const snapshot = await f.sim.snapshot();
    expect(snapshot.fleet.instances.find((i) => i.name === 'hot-1')?.host).toBe('hv1');
    expect(snapshot.migrations.map((m) => [m.instance, m.phase])).toEqual([['hot-1', 'cancelled']]);
    // A click after the restart is refused the same way.
    expect(await f.engine.service.decide(approval.id, 'approved', 'U_CAROL')).toMatchObject({
      outcome: 'expired',
      decidedBy: 'system',
    });
    expect(await f.engine.store.holder('hv1')).toBeUndefined();
  });
});
