import { describe, expect, it } from 'vitest';
import { Roles } from '../../src/commands/roles.js';
import { VirtualClock } from '../../src/engine/clock.js';
import { ForbiddenError } from '../../src/engine/errors.js';

describe('roles', () => {
  const config = { operators: ['U0ALICE', 'S0OPS'], approvers: ['U0BOB'], groupCacheMs: 60_000 };

  it('grants by user id or group membership, and nothing else', async () => {
    const roles = new Roles(config, { members: async () => ['U0CAROL'] }, new VirtualClock());
    expect(await roles.has('U0ALICE', 'operator')).toBe(true);
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
    expect(await roles.has('U0BOB', 'operator')).toBe(false);
    expect(await roles.has('U0BOB', 'approver')).toBe(true);
    expect(await roles.has('U0ALICE', 'approver')).toBe(false);
    await expect(roles.require('U0MALLORY', 'operator', 'evacuate')).rejects.toThrow(ForbiddenError);
    await expect(roles.require('U0MALLORY', 'operator', 'evacuate')).rejects.toThrow(
      /only ferry operators may evacuate/,
    );
  });

  it('caches group membership and asks again after the cache time', async () => {
    const clock = new VirtualClock();
    let members = ['U0CAROL'];
    let lookups = 0;
    const roles = new Roles(
      config,
      {
        members: async () => {
          lookups++;
          return members;
        },
      },
      clock,
    );
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
    members = [];
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
    expect(lookups).toBe(1);
    await clock.sleep(60_000);
    expect(await roles.has('U0CAROL', 'operator')).toBe(false);
    expect(lookups).toBe(2);
  });

  it('fails closed when the group cannot be read', async () => {
    const roles = new Roles(
      config,
      {
        members: async () => {
          throw new Error('missing_scope');
        },
      },
      new VirtualClock(),
    );
    expect(await roles.has('U0CAROL', 'operator')).toBe(false);
    await expect(roles.require('U0CAROL', 'operator', 'evacuate')).rejects.toThrow(
      /could not read the user group S0OPS/,
    );
  });

  it('honours a cached membership only until groupCacheS after the last lookup that worked', async () => {
    const clock = new VirtualClock();
    let failing = false;
    const roles = new Roles(
      config,
      {
        members: async () => {
          if (failing) throw new Error('ratelimited');
          return ['U0CAROL'];
        },
      },
      clock,
    );
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
    failing = true;
    await clock.sleep(59_000);
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
    // The lookup keeps failing: the stale answer is no longer good enough.
    await clock.sleep(1_000);
    expect(await roles.has('U0CAROL', 'operator')).toBe(false);
    await expect(roles.require('U0CAROL', 'operator', 'evacuate')).rejects.toThrow(
      /could not read the user group S0OPS to check/,
    );
    await clock.sleep(3_600_000);
    expect(await roles.has('U0CAROL', 'operator')).toBe(false);
    failing = false;
    expect(await roles.has('U0CAROL', 'operator')).toBe(true);
  });
});
