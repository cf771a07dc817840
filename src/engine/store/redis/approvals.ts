import type { ApprovalDecision, ApprovalRequest } from '../../model.js';
import type { ApprovalStore } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode, encode } from './schemas.js';
import { LuaScript } from './script.js';
import { RECORD_VERSIONS } from './version.js';

/**
 * Records a decision unless one stands, checking the request's expiry in the same step: a
 * decision at or after `expiresAt` (expiry wins a tie) is recorded as the expiry instead, so a
 * click that arrives late, or while no worker was watching, can never turn into a switchover.
 * KEYS[1] the request, KEYS[2] its decision. ARGV: approval id, outcome, decided by, the
 * caller's engine time, `redis` to judge a decision by Redis's time instead, tolerance ms, the
 * schema version to stamp.
 * Returns the decision that stands, as JSON.
 */
const DECIDE = new LuaScript(`
local standing = redis.call('GET', KEYS[2])
if standing then return standing end
local outcome, by = ARGV[2], ARGV[3]
local now = tonumber(ARGV[4])
if ARGV[5] == 'redis' and outcome ~= 'expired' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local raw = redis.call('GET', KEYS[1])
if raw and outcome ~= 'expired' then
  local ok, request = pcall(cjson.decode, raw)
  if ok and type(request) == 'table' and type(request.expiresAt) == 'number'
    and now + tonumber(ARGV[6]) >= request.expiresAt then
    outcome, by = 'expired', 'system'
  end
end
local decision = cjson.encode({ approvalId = ARGV[1], outcome = outcome, decidedBy = by, decidedAt = now, v = tonumber(ARGV[7]) })
redis.call('SET', KEYS[2], decision)
return decision
`);

/**
 * Whose clock judges expiry. `redis`: Redis's TIME, one clock for every replica (a real-time
 * engine). `engine`: the caller's engine clock, the decision's `decidedAt` (the accelerated
 * clocks of the demo and tests, which Redis does not know), with `toleranceMs` of it taken off every approval's life so that
 * replicas whose clocks differ by less than that still never accept a late decision.
 */
export type ApprovalTime = { source: 'redis' } | { source: 'engine'; toleranceMs: number };

/**
 * Approval requests and decisions in Redis. A request is stored once with SET NX (retries by a
 * resumed runner are no-ops); a decision is recorded by one script that keeps the first one and
 * checks expiry where it records, whichever replica or button click gets there.
 */
export class RedisApprovals implements ApprovalStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly time: ApprovalTime = { source: 'redis' },
  ) {
    this.keys = new Keys(prefix);
  }

  async request(approval: ApprovalRequest): Promise<void> {
    const key = this.keys.approval(approval.id);
    // The request and its place in the evacuation's index in one step: listed means stored.
    await this.redis
      .multi()
      .set(key, encode('approval', approval), 'NX')
      .sadd(this.keys.approvalIndex(approval.evacuationId), approval.id)
      .exec();
    await confirmReplicated(this.redis, key, 'an approval request');
  }

  async forEvacuation(evacuationId: string): Promise<ApprovalRequest[]> {
    const ids = await this.redis.smembers(this.keys.approvalIndex(evacuationId));
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.keys.approval(id));
    const raws = await this.redis.mget(...keys);
    const found: ApprovalRequest[] = [];
    raws.forEach((raw, i) => {
      if (raw !== null) found.push(decode('approval', raw, keys[i]!));
    });
    return found.sort((a, b) => a.requestedAt - b.requestedAt || a.id.localeCompare(b.id));
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

  /** With Redis's time, a person's decision gets Redis's `decidedAt` (see ApprovalTime). */
  async record(decision: ApprovalDecision): Promise<ApprovalDecision> {
    const { approvalId } = decision;
    const key = this.keys.decision(approvalId);
    const raw = await DECIDE.run(
      this.redis,
      [this.keys.approval(approvalId), key],
      [
        approvalId,
        decision.outcome,
        decision.decidedBy,
        Math.round(decision.decidedAt),
        this.time.source,
        this.time.source === 'engine' ? this.time.toleranceMs : 0,
        RECORD_VERSIONS.decision,
      ],
    );
    await confirmReplicated(this.redis, key, 'an approval decision');
    return decode('decision', String(raw), key);
  }
}
