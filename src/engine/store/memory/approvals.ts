import type { ApprovalDecision, ApprovalRequest } from '../../model.js';
import type { ApprovalStore } from '../../ports.js';
import { copy } from './copy.js';

/**
 * Approvals decided in process. `answer` decides every new request automatically (the CLI's
 * `--approve all|none`); without it, someone calls `decide`.
 */
export class MemoryApprovals implements ApprovalStore {
  private readonly requests = new Map<string, ApprovalRequest>();
  private readonly decisions = new Map<string, ApprovalDecision>();

  constructor(private readonly answer?: { outcome: 'approved' | 'rejected'; by: string }) {}

  async request(approval: ApprovalRequest): Promise<void> {
    if (this.requests.has(approval.id)) return;
    this.requests.set(approval.id, copy(approval));
    if (this.answer)
      await this.record({
        approvalId: approval.id,
        outcome: this.answer.outcome,
        decidedBy: this.answer.by,
        decidedAt: approval.requestedAt,
      });
  }

  async decision(approvalId: string): Promise<ApprovalDecision | undefined> {
    const found = this.decisions.get(approvalId);
    return found && copy(found);
  }

  async expire(approvalId: string, at: number): Promise<ApprovalDecision> {
    return this.record({ approvalId, outcome: 'expired', decidedBy: 'system', decidedAt: at });
  }

  /** The first decision stands; one at or after the request's expiry is recorded as the expiry. */
  async record(decision: ApprovalDecision): Promise<ApprovalDecision> {
    const standing = this.decisions.get(decision.approvalId);
    if (standing) return copy(standing);
    const expiresAt = this.requests.get(decision.approvalId)?.expiresAt;
    const late = expiresAt !== undefined && decision.outcome !== 'expired' && decision.decidedAt >= expiresAt;
    const recorded: ApprovalDecision = late
      ? { ...decision, outcome: 'expired', decidedBy: 'system' }
      : decision;
    this.decisions.set(decision.approvalId, copy(recorded));
    return copy(recorded);
  }

  async get(approvalId: string): Promise<ApprovalRequest | undefined> {
    const found = this.requests.get(approvalId);
    return found && copy(found);
  }

  async forEvacuation(evacuationId: string): Promise<ApprovalRequest[]> {
    return [...this.requests.values()]
      .filter((r) => r.evacuationId === evacuationId)
      .sort((a, b) => a.requestedAt - b.requestedAt)
      .map(copy);
  }
}
