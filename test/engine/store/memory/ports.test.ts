import { describe, expect, it } from 'vitest';
import type { Evacuation } from '../../../../src/engine/model.js';
import { MemoryApprovals, MemoryStore } from '../../../../src/engine/store/memory/index.js';

const evacuation = (id: string): Evacuation => ({
  request: { id, source: 'hv1', requestedBy: 'U_ALICE', maintenance: false },
  state: 'planned',
  plan: { source: 'hv1', moves: [], blockers: [], lowerBoundMs: 0, predictedMakespanMs: 0 },
  migrations: [],
});

describe('the in-memory store', () => {
  it('keeps what was committed frozen, so nothing can change it behind the store', async () => {
    const store = new MemoryStore();
    const mine = evacuation('e1');
    await store.commit({ evacuation: mine });
    mine.state = 'draining'; // the caller's object stays its own
    const stored = (await store.loadEvacuation('e1'))!;
    expect(stored.state).toBe('planned');
    expect(() => {
      (stored.plan.moves as unknown[]).push({});
    }).toThrow(TypeError);
  });

  it('appends events in order and reads them from a count on', async () => {
    const store = new MemoryStore();
    const at = (n: number) => ({ evacuationId: 'e1', at: n, type: 'evacuation.started' as const });
    await store.commit({ events: [at(1), at(2)] });
    await store.commit({ events: [at(3)] });
    expect((await store.events('e1', 1)).map((e) => e.at)).toEqual([2, 3]);
    await store.commit({ evacuation: evacuation('e2') });
    await store.commit({ evacuation: evacuation('e1') });
    expect((await store.listEvacuations()).map((e) => e.request.id)).toEqual(['e1', 'e2']); // newest first
  });

  it('lets the first decision stand, and frees a host when its evacuation ends', async () => {
    const approvals = new MemoryApprovals();
    await approvals.record({ approvalId: 'a1', outcome: 'approved', decidedBy: 'U_BOB', decidedAt: 1 });
    const later = await approvals.expire('a1', 2);
    expect(later).toMatchObject({ outcome: 'approved', decidedBy: 'U_BOB' });

    const store = new MemoryStore();
    expect(await store.create(evacuation('e1'), [])).toEqual({ created: true });
    expect(await store.create(evacuation('e2'), [])).toEqual({ created: false, holder: 'e1' });
    expect(await store.create(evacuation('e1'), [])).toEqual({ created: false, taken: true });
    await store.commit({ evacuation: { ...evacuation('e1'), state: 'aborted' } });
    expect(await store.holder('hv1')).toBeUndefined();
    expect(await store.create(evacuation('e3'), [])).toEqual({ created: true });
  });
});
