import type { Clock } from '../engine/clock.js';
import { ForbiddenError } from '../engine/errors.js';
import type { CommandName } from './grammar.js';

/**
 * Who may do what. Operators change things (plan, evacuate, migrate, campaign, pause, resume,
 * abort); approvers sign off risky switchovers; everyone may read (help, hosts, status, report).
 * Members are Slack user ids or user-group ids; group membership is looked up and cached.
 */

export type Role = 'operator' | 'approver';

/** The role each command needs; undefined means anyone in the workspace. */
export const COMMAND_ROLE: Record<CommandName, Role | undefined> = {
  help: undefined,
  hosts: undefined,
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
  private readonly cache = new Map<string, { members: Set<string>; at: number }>();

  constructor(
    private readonly config: RoleConfig,
    private readonly directory: GroupDirectory,
    private readonly clock: Clock,
  ) {}

  /** Whether `user` holds `role`: listed by id, or a member of a listed group. Fails closed. */
  async has(user: string, role: Role): Promise<boolean> {
    const members = role === 'operator' ? this.config.operators : this.config.approvers;
    if (members.includes(user)) return true;
    for (const group of members.filter((m) => m.startsWith('S'))) {
      if ((await this.groupMembers(group)).has(user)) return true;
    }
    return false;
  }

  /** Throws a ForbiddenError that says which role is needed, unless `user` holds it. */
  async require(user: string, role: Role, doing: string): Promise<void> {
    if (!(await this.has(user, role)))
      throw new ForbiddenError(
        `only ${ROLE_WORDS[role]} may ${doing}; ask one of them, or an admin to add you`,
      );
  }

  private async groupMembers(group: string): Promise<Set<string>> {
    const cached = this.cache.get(group);
    if (cached && this.clock.now() - cached.at < this.config.groupCacheMs) return cached.members;
    let members: Set<string>;
    try {
      members = new Set(await this.directory.members(group));
    } catch {
      // A group we cannot read grants nothing; an earlier answer is better than none.
      return cached?.members ?? new Set();
    }
    this.cache.set(group, { members, at: this.clock.now() });
    return members;
  }
}
