import { describe, expect, it } from 'vitest';
import { planMigration } from '../../src/engine/planning/index.js';
import { moveLine } from '../../src/views/plan.js';
import { fleet, host, policy, vm } from '../engine/planning/fleet.js';

describe('a move with multifd channels in the plan preview', () => {
  it('names its channels; a single stream says nothing new', () => {
    const f = fleet([host('src'), host('d1')], [vm('big', 'src', 64)]);
    const multi = planMigration(f, 'big', policy({ multifdChannels: 4 })).moves[0]!;
    expect(moveLine(multi)).toContain('4 multifd channels');
    expect(moveLine(planMigration(f, 'big', policy()).moves[0]!)).not.toContain('multifd');
  });
});
