import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../src/engine/config.js';
import type { Fleet } from '../../../src/engine/model.js';
import { planEvacuation } from '../../../src/engine/planning/plan.js';
import { fleetFacts, revalidatePlan } from '../../../src/engine/planning/revalidate.js';
import { host, vm } from '../../support/fleet.js';

/** A confirmed plan checked against the fleet at its start: kept where it still holds, re-placed only where not. */

const T0 = Date.UTC(2026, 10, 24, 2, 0);

function fleet(): Fleet {
  return {
    hosts: [host('hv1'), host('hv2', { memoryBytes: 64 * 1024 ** 3 }), host('hv3'), host('hv4')],
    instances: [
      vm('a', 'hv1', 32),
      vm('b', 'hv1', 16),
      vm('c', 'hv1', 8),
      vm('d', 'hv1', 8),
      vm('e', 'hv1', 4),
      vm('f', 'hv1', 4),
      vm('gpu', 'hv1', 8, { migratable: false, notMigratableReason: 'PCI passthrough' }),
      vm('old', 'hv2', 16),
    ],
  };
}

const planned = () => planEvacuation(fleet(), 'hv1', defaultPolicy, { now: T0 });
const withHost = (f: Fleet, name: string, over: Partial<Fleet['hosts'][number]>): Fleet => ({
  ...f,
  hosts: f.hosts.map((h) => (h.name === name ? { ...h, ...over } : h)),
});

describe('revalidatePlan', () => {
  it('keeps every move as confirmed when the fleet still takes it, even where the planner would now choose otherwise', () => {
    const plan = planned();
    // A big empty host appears: a fresh plan would send VMs there, the confirmed one does not.
    const now = { ...fleet(), hosts: [...fleet().hosts, host('hv9', { memoryBytes: 1024 * 1024 ** 3 })] };
    expect(planEvacuation(now, 'hv1', defaultPolicy, { now: T0 }).moves.map((m) => m.to)).toContain('hv9');
    const checked = revalidatePlan(plan, now, defaultPolicy);
    expect(checked.changes).toEqual([]);
    expect(checked.plan.moves).toEqual(plan.moves);
    expect(checked.plan.blockers).toEqual(plan.blockers);
  });

  it('places again only the moves whose destination was disabled, and says why', () => {
    const plan = planned();
    const victim = plan.moves[0]!;
    const now = withHost(fleet(), victim.to, { schedulable: false, disabledReason: 'broken PSU' });
    const checked = revalidatePlan(plan, now, defaultPolicy);
    const others = plan.moves.filter((m) => m.to !== victim.to);
    for (const m of others) expect(checked.plan.moves).toContainEqual(m);
    const moved = plan.moves.filter((m) => m.to === victim.to);
    expect(checked.changes.map((c) => c.instance).sort()).toEqual(moved.map((m) => m.instance).sort());
    for (const change of checked.changes) {
      expect(change.from).toBe(victim.to);
      expect(change.to).toBeDefined();
      expect(change.to).not.toBe(victim.to);
      expect(change.why).toContain(`${victim.to} is disabled for scheduling (broken PSU)`);
      expect(checked.plan.moves.find((m) => m.instance === change.instance)!.to).toBe(change.to);
    }
  });

  it('counts the room the kept moves take: a destination filled meanwhile loses only what no longer fits', () => {
    const plan = planned();
    const dest = plan.moves[0]!.to;
    const inbound = plan.moves.filter((m) => m.to === dest);
    expect(inbound.length).toBeGreaterThan(1);
    // Someone started a VM on it after the preview: room is left for the first move only.
    const free =
      256 * 1024 ** 3 -
      fleet()
        .instances.filter((i) => i.host === dest)
        .reduce((n, i) => n + i.memoryBytes, 0);
    const late = vm('late', dest, (free - plan.moves[0]!.memoryBytes) / 1024 ** 3);
    const now = { ...fleet(), instances: [...fleet().instances, late] };
    const checked = revalidatePlan(plan, now, defaultPolicy);
    expect(checked.plan.moves[0]).toEqual(plan.moves[0]);
    expect(checked.changes.map((c) => c.instance).sort()).toEqual(
      inbound
        .slice(1)
        .map((m) => m.instance)
        .sort(),
    );
    for (const change of checked.changes) expect(change.why).toMatch(new RegExp(`${dest} has .* free`));
    expect(checked.plan.moves).toHaveLength(plan.moves.length);
  });

  it('drops a VM that left the source, and places one that arrived after the plan', () => {
    const plan = planned();
    const base = fleet();
    const now: Fleet = {
      ...base,
      instances: [
        ...base.instances.map((i) => (i.name === 'b' ? { ...i, host: 'hv3' } : i)),
        vm('newcomer', 'hv1', 4),
      ],
    };
    const checked = revalidatePlan(plan, now, defaultPolicy);
    expect(checked.plan.moves.map((m) => m.instance)).not.toContain('b');
    expect(checked.plan.moves.map((m) => m.instance)).toContain('newcomer');
    expect(checked.changes).toContainEqual(
      expect.objectContaining({ instance: 'b', why: 'it runs on hv3 now, not on hv1' }),
    );
    const arrived = checked.changes.find((c) => c.instance === 'newcomer')!;
    expect(arrived.from).toBeUndefined();
    expect(arrived.why).toContain('it arrived on hv1 after the plan was made');
  });

  it('never re-places a move whose destination the operator chose: it stays, with the reason', () => {
    const plan = planned();
    const victim = plan.moves[0]!;
    const now = withHost(fleet(), victim.to, { schedulable: false });
    const checked = revalidatePlan(plan, now, defaultPolicy, { pinned: true });
    const stays = checked.plan.blockers.find((b) => b.instance === victim.instance)!;
    expect(stays.code).toBe('precheck-failed');
    expect(checked.changes.find((c) => c.instance === victim.instance)!.why).toContain('chosen by hand');
  });

  it('treats a host another evacuation now drains as no destination', () => {
    const plan = planned();
    const victim = plan.moves[0]!;
    const checked = revalidatePlan(plan, fleet(), defaultPolicy, { draining: [victim.to] });
    for (const m of checked.plan.moves) expect(m.to).not.toBe(victim.to);
    expect(checked.changes[0]!.why).toContain(`${victim.to} is being drained by another evacuation`);
  });

  it('records what the plan assumed: the source’s instances and every host', () => {
    const facts = fleetFacts(fleet(), ['hv1'], T0);
    expect(facts.at).toBe(T0);
    expect(facts.instances.map((i) => i.name)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'gpu']);
    expect(facts.hosts.map((h) => h.name)).toEqual(['hv1', 'hv2', 'hv3', 'hv4']);
  });
});
