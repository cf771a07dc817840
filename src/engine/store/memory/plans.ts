import type { IssuedPlan, PlanStore, PlanTicket, PlanUse } from '../../ports.js';
import { copy } from './copy.js';

/** Issued plans in process; a claim is checked and marked in one synchronous step, so it is atomic here. */
export class MemoryPlans implements PlanStore {
  private readonly plans = new Map<string, IssuedPlan>();
  private readonly used = new Map<string, { use: PlanUse; by: string; at: number }>();

  async issue(plan: IssuedPlan): Promise<void> {
    this.plans.set(plan.id, copy(plan));
  }

  async get(id: string): Promise<IssuedPlan | undefined> {
    const found = this.plans.get(id);
    return found && copy(found);
  }

  async claim(ticket: PlanTicket, by: string, at: number, use: PlanUse) {
    const plan = this.plans.get(ticket.planId);
    if (!plan) return { ok: false, why: 'unknown' } as const;
    if (plan.nonce !== ticket.nonce) return { ok: false, why: 'nonce' } as const;
    if (plan.issuedTo !== by) return { ok: false, why: 'user', issuedTo: plan.issuedTo } as const;
    const used = this.used.get(plan.id);
    if (used) return { ok: false, why: 'used', ...used } as const;
    if (at >= plan.expiresAt) return { ok: false, why: 'expired', expiresAt: plan.expiresAt } as const;
    this.used.set(plan.id, { use, by, at });
    return { ok: true, plan: copy(plan) } as const;
  }
}
