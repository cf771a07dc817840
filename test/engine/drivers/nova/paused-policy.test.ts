import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../../src/engine/config.js';
import { PAUSED_NO_SWITCHOVER } from '../../../../src/engine/drivers/nova/inventory.js';
import {
  decide,
  initialWatch,
  type PolicyAction,
  type WatchedMigration,
} from '../../../../src/engine/evacuation/policy.js';
import { GiB, MiB, type ProgressSample } from '../../../../src/engine/model.js';
import type { WatchState } from '../../../../src/engine/ports.js';

/**
 * A move whose back end takes no switchover (Nova: a PAUSED server, force_complete needs ACTIVE)
 * is never offered one by the policy, even when it is planned risky or stalls: it gets the safe
 * action instead of an approval request nobody could carry out.
 */

const policy = { ...defaultPolicy, stallTimeoutS: 10, downtimeRampSteps: 1 };
const vm: WatchedMigration = {
  id: 'e:vm',
  instance: 'vm',
  memoryBytes: GiB,
  downtimeSloMs: 500,
  plannedStrategy: 'postcopy',
};
const sample = (s: number, iteration: number): ProgressSample => ({
  at: s * 1000,
  status: 'active',
  totalBytes: GiB,
  transferredBytes: s * 100 * MiB,
  remainingBytes: GiB / 2,
  dirtyBytesPerS: 200 * MiB,
  bandwidthBytesPerS: 100 * MiB,
  iteration,
});

/** Feeds one sample a second up to `to` s; returns the actions other than tuning. */
function run(m: WatchedMigration, to: number): PolicyAction[] {
  let watch: WatchState = initialWatch(policy, m, 0);
  const actions: PolicyAction[] = [];
  for (let s = 1; s <= to; s++) {
    const step = decide({ policy, migration: m, watch, sample: sample(s, s < 3 ? 1 : 2), now: s * 1000 });
    watch = step.watch;
    actions.push(...step.actions.filter((a) => a.kind !== 'tune'));
    if (actions.length > 0) return actions;
  }
  return actions;
}

describe('the policy and a move that takes no switchover', () => {
  it('asks for post-copy when the back end takes it', () => {
    expect(run(vm, 30).map((a) => a.kind)).toEqual(['escalate']);
  });

  it('never asks for a PAUSED server: a stall aborts it instead', () => {
    const actions = run({ ...vm, switchoverRefused: PAUSED_NO_SWITCHOVER }, 30);
    expect(actions).toEqual([
      {
        kind: 'abort',
        why: expect.stringMatching(
          /^stalled: .*no switchover possible \(Nova force-completes .*PAUSED\): abort$/,
        ),
      },
    ]);
  });
});
