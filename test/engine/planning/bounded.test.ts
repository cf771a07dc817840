import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../../src/engine/config.js';
import { FerryError } from '../../../src/engine/errors.js';
import { type Fleet, GiB } from '../../../src/engine/model.js';
import { planCampaign } from '../../../src/engine/planning/campaign.js';
import { planEvacuation } from '../../../src/engine/planning/plan.js';
import { host, vm } from '../../support/fleet.js';

/**
 * Numbers from a driver's inventory (Nova's flavors, a hypervisor's report) never pass the
 * config's bounds, so the planner's loops must end whatever they are: Infinity, NaN, 1e308.
 * Each plan must come back (a plan or a typed error) well within the test's budget.
 */
const ABSURD: Record<string, Fleet> = {
  'memory overflowing to Infinity': {
    hosts: [host('src', { memoryBytes: 1e308 * GiB }), host('dst', { memoryBytes: 1e308 * GiB })],
    instances: [vm('big', 'src', 1e308), vm('small', 'src', 4)],
  },
  'a NaN dirty rate': {
    hosts: [host('src'), host('dst')],
    instances: [vm('nan', 'src', 8, { dirtyBytesPerS: Number.NaN }), vm('ok', 'src', 4)],
  },
  'a NIC of no bandwidth': {
    hosts: [host('src', { nicBytesPerS: 0 }), host('dst')],
    instances: [vm('a', 'src', 8), vm('b', 'src', 4)],
  },
  'an infinitely fast NIC and a 1e308-byte guest': {
    hosts: [host('src', { nicBytesPerS: Number.POSITIVE_INFINITY }), host('dst', { memoryBytes: 1e308 })],
    instances: [vm('huge', 'src', 1, { memoryBytes: 1e308, dirtyBytesPerS: 1e308 }), vm('b', 'src', 4)],
  },
};

describe('the planner on absurd inventories', () => {
  for (const [what, fleet] of Object.entries(ABSURD)) {
    it(`ends with ${what}`, () => {
      const started = Date.now();
      for (const plan of [
        () => planEvacuation(fleet, 'src', defaultPolicy, { now: 0 }),
        () => planCampaign(fleet, ['src', 'dst']),
      ]) {
        try {
          plan();
        } catch (err) {
          expect(err).toBeInstanceOf(FerryError);
        }
      }
      expect(Date.now() - started).toBeLessThan(2000);
    });
  }
});
