import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/engine/clock.js';
import { createLocalEngine } from '../../../src/engine/compose.js';
import { defaultPolicy } from '../../../src/engine/config.js';
import { SimDriver } from '../../../src/engine/drivers/sim/index.js';
import { type Campaign, FINAL_CAMPAIGN_STATES, type Fleet, GBPS, MiB } from '../../../src/engine/model.js';
import { host, vm } from '../../support/fleet.js';

/**
 * Campaigns as the engine runs them: the engine starts each step when the one before ended,
 * stops on a bad step and says why (unless told to go on), and pauses, resumes or aborts as a
 * whole. Nobody polls from outside: the test only waits for the record to change.
 */

function fleet(): Fleet {
  const quiet = (name: string, on: string) => vm(name, on, 4, { dirtyBytesPerS: 5 * MiB });
  return {
    hosts: [host('hv1'), host('hv2'), host('hv3'), host('spare')],
    instances: [quiet('a-1', 'hv1'), quiet('a-2', 'hv1'), quiet('b-1', 'hv2'), quiet('c-1', 'hv3')],
  };
}

function setup() {
  const clock = new VirtualClock(Date.UTC(2026, 10, 24, 2, 0));
  const driver = new SimDriver({ fleet: fleet(), clock, streamCapBytesPerS: 8 * GBPS });
  const config = {
    policy: defaultPolicy,
    windows: [],
    timezone: 'UTC',
    maintenance: { reenable: true, timeoutS: 60 },
  };
  return { clock, driver, ...createLocalEngine({ config, driver, clock }) };
}

type Setup = ReturnType<typeof setup>;

async function until(s: Setup, id: string, done: (c: Campaign) => boolean): Promise<Campaign> {
  for (let i = 0; i < 100_000; i++) {
    const c = await s.service.campaignStatus(id);
    if (done(c)) return c;
    await s.clock.sleep(1_000);
  }
  throw new Error(`campaign ${id} never got there`);
}

const ended = (c: Campaign) => FINAL_CAMPAIGN_STATES.includes(c.state);
const hosts = (c: Campaign) => c.steps.map((s) => s.hosts.map((h) => h.host));

describe('campaigns run by the engine', () => {
  it('drains every host in planCampaign order, each step started when the one before ended', async () => {
    const s = setup();
    const started = await s.service.campaign({
      hosts: ['hv1', 'hv2', 'hv3'],
      requestedBy: 'U_ALICE',
      maintenance: true,
    });
    expect(started.steps[0]!.hosts[0]!.evacuationId).toBe(
      `${started.id}-${started.steps[0]!.hosts[0]!.host}`,
    );
    const done = await until(s, started.id, ended);
    expect(done.state).toBe('completed');
    expect(hosts(done).flat().sort()).toEqual(['hv1', 'hv2', 'hv3']);
    const evacuations = await s.store.listEvacuations();
    expect(evacuations.every((e) => e.state === 'completed' && e.request.campaign === started.id)).toBe(true);
    // Each later step started after the one before had ended.
    const ids = done.steps.map((st) => st.hosts[0]!.evacuationId!);
    for (let i = 1; i < ids.length; i++) {
      const before = (await s.service.status(ids[i - 1]!)).endedAt!;
      expect((await s.service.status(ids[i]!)).startedAt!).toBeGreaterThanOrEqual(before);
    }
  });

  it('stops after a step that ended badly, says why, and starts nothing more', async () => {
    const s = setup();
    const c = await s.service.campaign({
      hosts: ['hv1', 'hv2', 'hv3'],
      requestedBy: 'U_ALICE',
      maintenance: true,
    });
    const first = c.steps[0]!.hosts[0]!;
    await s.service.control(first.evacuationId!, 'abort', 'U_BOB');
    const done = await until(s, c.id, ended);
    expect(done.state).toBe('stopped');
    expect(done.stoppedBecause).toMatch(
      new RegExp(`after step 1: ${first.host} \\(${first.evacuationId}\\) ended (aborted|cancelled)`),
    );
    expect(done.steps.slice(1).flatMap((st) => st.hosts.map((h) => h.evacuationId))).toEqual([
      undefined,
      undefined,
    ]);
    expect(await s.store.listEvacuations()).toHaveLength(1);
    const later = hosts(done).slice(1).flat();
    for (const h of later)
      expect((await s.driver.inventory()).hosts.find((x) => x.name === h)?.schedulable).toBe(true);
  });

  it('goes on after a bad step when asked to (continueOnPartial)', async () => {
    const s = setup();
    const c = await s.service.campaign({
      hosts: ['hv1', 'hv2', 'hv3'],
      requestedBy: 'U_ALICE',
      maintenance: true,
      continueOnPartial: true,
    });
    await s.service.control(c.steps[0]!.hosts[0]!.evacuationId!, 'abort', 'U_BOB');
    const done = await until(s, c.id, ended);
    expect(done.state).toBe('completed');
    expect(done.steps.map((st) => st.hosts[0]!.outcome)).toEqual([
      expect.stringMatching(/aborted|cancelled/),
      'completed',
      'completed',
    ]);
  });

  it('pauses between steps, resumes, and aborts as a whole', async () => {
    const s = setup();
    const c = await s.service.campaign({
      hosts: ['hv1', 'hv2', 'hv3'],
      requestedBy: 'U_ALICE',
      maintenance: true,
    });
    await s.service.control(c.id, 'pause', 'U_ALICE');
    // The step running finishes; the next does not start while paused.
    const paused = await until(s, c.id, (x) => x.steps[0]!.hosts[0]!.outcome !== undefined);
    expect(paused.state).toBe('paused');
    await s.clock.sleep(600_000);
    expect((await s.service.campaignStatus(c.id)).steps[1]!.hosts[0]!.evacuationId).toBeUndefined();
    await s.service.control(c.id, 'resume', 'U_ALICE');
    const second = await until(s, c.id, (x) => x.current === 1);
    expect(second.state).toBe('running');
    await s.service.control(c.id, 'abort', 'U_CAROL');
    const done = await until(s, c.id, ended);
    expect(done).toMatchObject({ state: 'aborted', stoppedBecause: 'aborted by U_CAROL' });
    // The step that was running is aborted with it.
    const secondId = second.steps[1]!.hosts[0]!.evacuationId!;
    expect(['aborted', 'cancelled']).toContain((await s.launcher.finished(secondId))?.state ?? 'cancelled');
    expect(done.steps[2]!.hosts[0]!.evacuationId).toBeUndefined();
    await expect(s.service.control(c.id, 'resume', 'U_ALICE')).rejects.toThrow(/already ended/);
  });
});
