import type { ApprovalDecision, ApprovalRequest } from '../engine/model.js';
import { approvalDecidedMessage, approvalRequestMessage } from '../views/approval.js';
import type { KeyValueStore } from './kv.js';
import type { SlackOutbox } from './outbox.js';

/**
 * Approval requests in the approvers' channel: posted once per request (the message's place is
 * kept in the store, so a restart neither loses nor repeats it) and updated in place to show the
 * decision, whoever or whatever (expiry) made it.
 */
export class ApprovalNotifier {
  constructor(
    private readonly deps: { outbox: SlackOutbox; kv: KeyValueStore; channel: string; timezone: string },
  ) {}

  /** Posts the request unless it was posted before. */
  async requested(request: ApprovalRequest): Promise<void> {
    if (await this.where(request.id)) return;
    const message = approvalRequestMessage(request, {
      timezone: this.deps.timezone,
      requester: request.requestedBy,
    });
    const ts = await this.deps.outbox.post(this.deps.channel, message);
    await this.deps.kv.set(key(request.id), JSON.stringify({ channel: this.deps.channel, ts }));
  }

  /** Shows the decision on the request's message (idempotent: the same decision renders the same). */
  async decided(request: ApprovalRequest, decision: ApprovalDecision): Promise<void> {
    const where = await this.where(request.id);
    if (!where) return;
    const message = approvalDecidedMessage(request, decision, {
      timezone: this.deps.timezone,
      requester: request.requestedBy,
    });
    this.deps.outbox.update(where.channel, where.ts, message);
  }

  private async where(approvalId: string): Promise<{ channel: string; ts: string } | undefined> {
    const stored = await this.deps.kv.get(key(approvalId));
    return stored ? (JSON.parse(stored) as { channel: string; ts: string }) : undefined;
  }
}

function key(approvalId: string): string {
  return `approval:${approvalId}`;
}
