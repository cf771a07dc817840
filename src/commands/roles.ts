import type { Clock } from '../engine/clock.js';
import { ForbiddenError } from '../engine/errors.js';
import type { CommandName } from './grammar.js';

/**
 * Who may do what. Operators change things (plan, evacuate, migrate, campaign, pause, resume,
 * abort); approvers sign off risky switchovers; everyone may read (help, hosts, status, report).
 * Members are Slack user ids or user-group ids; group membership is looked up and cached.
 */

export type Role = 'operator' | 'approver';

/** The role each command needs (any one of a list); undefined means anyone in the workspace. */
export const COMMAND_ROLE: Record<CommandName, Role | readonly Role[] | undefined> = {
  help: undefined,
  hosts: undefined,
  windows: undefined,
  status: undefined,
  report: undefined,
  plan: 'operator',
  evacuate: 'operator',
  migrate: 'operator',
  campaign: 'operator',
  pause: 'operator',
  resume: 'operator',
  abort: 'operator',
  reschedule: 'operator',
  maintenance: 'operator',
  // The stalled post-copy's notice mentions the approvers: either may act on it.
  recover: ['operator', 'approver'],
  audit: ['operator', 'approver'],
};

/** Membership of a Slack user group (usergroups.users.list). */
export interface GroupDirectory {
  members(groupId: string): Promise<string[]>;
}

export interface RoleConfig {
  operators: string[];
  approvers: string[];
  /** How long a group's membership is trusted before asking again. */
  groupCacheMs: number;
}

const ROLE_WORDS: Record<Role, string> = { operator: 'ferry operators', approver: 'ferry approvers' };

export class Roles {
  /** Each group's members as last read, and when that lookup succeeded. */
  private readonly cache = new Map<string, { members: Set<string>; at: number }>();

  constructor(
    private readonly config: RoleConfig,
    private readonly directory: GroupDirectory,
    private readonly clock: Clock,
  ) {}

  /** Whether `user` holds `role`: listed by id, or a member of a listed group. Fails closed. */
  async has(user: string, role: Role): Promise<boolean> {
    return (await this.check(user, role)).ok;
  }

  /**
   * Throws a ForbiddenError that says which role is needed, unless `user` holds it; when a
   * group could not be read, it says so (the role may be there, ferry cannot tell).
   */
  async require(user: string, role: Role | readonly Role[], doing: string): Promise<void> {
    const roles: readonly Role[] = typeof role === 'string' ? [role] : role;
    const unreadable: string[] = [];
    for (const r of roles) {
      const result = await this.check(user, r);
      if (result.ok) return;
      unreadable.push(...result.unreadable);
    }
    const words = roles.map((r) => ROLE_WORDS[r]).join(' or ');
    if (unreadable.length > 0)
      throw new ForbiddenError(
        `only ${words} may ${doing}, and ferry could not read the user group ${unreadable.join(', ')} to check; try again later, or ask an admin to list you by user id`,
      );
    throw new ForbiddenError(`only ${words} may ${doing}; ask one of them, or an admin to add you`);
  }

  private async check(user: string, role: Role): Promise<{ ok: true } | { ok: false; unreadable: string[] }> {
    const members = role === 'operator' ? this.config.operators : this.config.approvers;
    if (members.includes(user)) return { ok: true };
    const unreadable: string[] = [];
    for (const group of members.filter((m) => m.startsWith('S'))) {
      const found = await this.groupMembers(group);
      if (!found) unreadable.push(group);
      else if (found.has(user)) return { ok: true };
    }
    return { ok: false, unreadable };
  }

  /**
   * A group's members, trusted for `groupCacheMs` after the last lookup that succeeded; past
   * that, a failing lookup grants nothing (undefined: the group could not be read).
   */
  private async groupMembers(group: string): Promise<Set<string> | undefined> {
    const cached = this.cache.get(group);
    if (cached && this.clock.now() - cached.at < this.config.groupCacheMs) return cached.members;
    let members: Set<string>;
    try {
      members = new Set(await this.directory.members(group));
    } catch {
      return undefined;
    }
    this.cache.set(group, { members, at: this.clock.now() });
    return members;
  }
}
