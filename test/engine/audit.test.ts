import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/engine/clock.js';
import { createLocalEngine } from '../../src/engine/compose.js';
import { defaultPolicy } from '../../src/engine/config.js';
import { SimDriver } from '../../src/engine/drivers/sim/index.js';
import { type ApprovalRequest, type Fleet, GBPS } from '../../src/engine/model.js';
import { postMortem } from '../../src/engine/report.js';
import { postMortemMessage } from '../../src/views/postmortem.js';
import { messageToText } from '../../src/views/text.js';
import { host, vm } from '../support/fleet.js';

/** The audit tells the truth: what was done, and apart from it every refused attempt, in order. */

const T0 = Date.UTC(2026, 10, 24, 2, 0);

function setup() {
  const fleet: Fleet = {
    hosts: [host('hv1'), host('hv2'), host('hv3')],
    instances: [vm('web-1', 'hv1', 4), vm('web-2', 'hv1', 8)],
  };
  const clock = new VirtualClock(T0);
  const driver = new SimDriver({ fleet, clock, streamCapBytesPerS: defaultPolicy.streamCapGbps * GBPS });
  const config = {
    policy: defaultPolicy,
    windows: [],
    timezone: 'UTC',
    maintenance: { reenable: true, timeoutS: 60 },
  };
  return { clock, ...createLocalEngine({ config, driver, clock, via: 'test' }) };
}

const rows = (entries: { who: string; action: string; target: string; refused?: string }[]) =>
  entries.map((e) => [e.who, e.action, e.target, e.refused === undefined ? 'done' : 'refused']);

describe('the audit', () => {
  it('records a refused pause, resume or abort as refused, with why, and a done one as done', async () => {
    const { service, launcher, audit } = setup();
    const { id } = await service.evacuate({
      source: 'hv1',
      requestedBy: 'U_ALICE',
      maintenance: false,
      when: { kind: 'in', ms: 3600_000 },
    });
    await expect(service.control(id, 'pause', 'U_ALICE')).rejects.toThrow('has not started yet');
    await expect(service.control(id, 'resume', 'U_ALICE')).rejects.toThrow('has not started yet');
    await expect(service.control('evac-nope', 'abort', 'U_BOB')).rejects.toThrow('no evacuation');
    await service.control(id, 'abort', 'U_ALICE');
    await launcher.finished(id);
    await expect(service.control(id, 'abort', 'U_CAROL')).rejects.toThrow('has already ended (cancelled)');
    await expect(service.maintenance(id, 'done', 'U_CAROL')).rejects.toThrow('only a maintenance');

    const entries = await audit.entries();
    expect(rows(entries)).toEqual([
      ['U_ALICE', 'evacuate', id, 'done'],
      ['U_ALICE', 'pause', id, 'refused'],
      ['U_ALICE', 'resume', id, 'refused'],
      ['U_BOB', 'abort', 'evac-nope', 'refused'],
      ['U_ALICE', 'abort', id, 'done'],
      ['U_CAROL', 'abort', id, 'refused'],
      ['U_CAROL', 'maintenance done', id, 'refused'],
    ]);
    expect(entries[1]!.refused).toBe(`${id} has not started yet; only abort cancels it`);
    expect(entries.map((e) => e.at)).toEqual([...entries.map((e) => e.at)].sort((a, b) => a - b));
  });

  it('records approvals refused for the requester, after a decision and after expiry', async () => {
    const { service, approvals, audit, clock } = setup();
    const request = (id: string): ApprovalRequest => ({
      id,
      evacuationId: 'evac-x',
      migrationId: 'evac-x:db-1',
      instance: 'db-1',
      kind: 'postcopy',
      requestedBy: 'U_ALICE',
      requestedAt: T0,
      expiresAt: T0 + 60_000,
      predictedDowntimeMs: 5,
      downtimeSloMs: 300,
      remainingBytes: 1,
      dirtyBytesPerS: 1,
      bandwidthBytesPerS: 1,
      risk: 'post-copy',
    });
    await approvals.request(request('evac-x:db-1:1'));
    await approvals.request(request('evac-x:db-1:2'));
    await expect(service.decide('evac-x:db-1:1', 'approved', 'U_ALICE')).rejects.toThrow('second person');
    await service.decide('evac-x:db-1:1', 'approved', 'U_BOB');
    const late = await service.decide('evac-x:db-1:1', 'rejected', 'U_CAROL');
    expect(late.decidedBy).toBe('U_BOB');
    await clock.sleep(60_000);
    expect((await service.decide('evac-x:db-1:2', 'approved', 'U_BOB')).outcome).toBe('expired');

    const entries = await service.audit('evac-x');
    expect(rows(entries)).toEqual([
      ['U_ALICE', 'approve', 'evac-x:db-1:1', 'refused'],
      ['U_BOB', 'approve', 'evac-x:db-1:1', 'done'],
      ['U_CAROL', 'reject', 'evac-x:db-1:1', 'refused'],
      ['U_BOB', 'approve', 'evac-x:db-1:2', 'refused'],
    ]);
    expect(entries[2]!.refused).toBe('already approved by U_BOB');
    expect(entries[3]!.refused).toBe('the request had expired; the VM stayed on its source');
    expect(await audit.entries()).toHaveLength(4);
  });

  it('gives one evacuation’s trail with its plan’s refusals, and summarises it in the post-mortem', async () => {
    const { service, launcher, store } = setup();
    const issued = await service.preview({ hosts: ['hv1'], requestedBy: 'U_ALICE', maintenance: false });
    await expect(service.confirm({ planId: issued.id, nonce: issued.nonce }, 'U_MALLORY')).rejects.toThrow(
      'issued to U_ALICE',
    );
    const { id } = await service.confirm({ planId: issued.id, nonce: issued.nonce }, 'U_ALICE');
    await service.recordRefusal({
      who: 'U_MALLORY',
      action: 'abort',
      target: id,
      why: 'only ferry operators may run /ferry abort',
    });
    await launcher.finished(id);
    const other = await service.evacuate({ source: 'hv2', requestedBy: 'U_BOB', maintenance: false });
    await launcher.finished(other.id);

    const trail = await service.audit(id);
    expect(rows(trail)).toEqual([
      ['U_MALLORY', 'confirm', issued.id, 'refused'],
      ['U_ALICE', 'evacuate', id, 'done'],
      ['U_MALLORY', 'abort', id, 'refused'],
    ]);
    expect(rows(await service.audit()).length).toBeGreaterThan(trail.length);

    const pm = postMortem(await store.events(id), trail);
    expect(pm.audit?.done).toBe(1);
    expect(pm.audit?.refused.map((r) => [r.who, r.action])).toEqual([
      ['U_MALLORY', 'confirm'],
      ['U_MALLORY', 'abort'],
    ]);
    const text = messageToText(postMortemMessage(pm, { timezone: 'UTC' }));
    expect(text).toContain('1 action done, 2 refused');
    expect(text).toContain('only ferry operators may run /ferry abort');
    expect(postMortem(await store.events(id)).audit).toBeUndefined();
  });
});
