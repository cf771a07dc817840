import type { ApprovalDecision, ApprovalRequest } from '../../model.js';
import type { ApprovalStore } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { decode } from './schemas.js';

/**
 * Approval requests and decisions in Redis. Both are written with SET NX: a request is stored
 * once (retries by a resumed runner are no-ops) and the first decision wins, whichever replica
 * or button click records it; `SET ... NX GET` answers with the one that stands in the same step.
 */
export class RedisApprovals implements ApprovalStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async request(approval: ApprovalRequest): Promise<void> {
    await this.redis.set(this.keys.approval(approval.id), JSON.stringify(approval), 'NX');
  }

  async get(approvalId: string): Promise<ApprovalRequest | undefined> {
    const key = this.keys.approval(approvalId);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('approval', raw, key);
  }

  async decision(approvalId: string): Promise<ApprovalDecision | undefined> {
    const key = this.keys.decision(approvalId);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('decision', raw, key);
  }

  async expire(approvalId: string, at: number): Promise<ApprovalDecision> {
    return this.record({ approvalId, outcome: 'expired', decidedBy: 'system', decidedAt: at });
  }

  async record(decision: ApprovalDecision): Promise<ApprovalDecision> {
    const key = this.keys.decision(decision.approvalId);
    const standing = await this.redis.set(key, JSON.stringify(decision), 'NX', 'GET');
    return standing === null ? structuredClone(decision) : decode('decision', standing, key);
  }
}
