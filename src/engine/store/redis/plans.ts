import type { IssuedPlan, PlanStore, PlanTicket, PlanUse } from '../../ports.js';
import { type RedisClient, type Retention, retentionSchema } from './config.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode, encode } from './schemas.js';
import { LuaScript } from './script.js';

/**
 * Claims a plan's nonce once, in one step: KEYS[1] the plan, KEYS[2] its used-mark; ARGV the
 * nonce, the user, the engine time, the mark's JSON, its TTL. Returns `{'ok', plan}`,
 * `{'unknown'}`, `{'nonce'}`, `{'user', plan}`, `{'used', mark}` or `{'expired', plan}`.
 */
const CLAIM = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return {'unknown'} end
local ok, plan = pcall(cjson.decode, raw)
if not ok or type(plan) ~= 'table' or type(plan.expiresAt) ~= 'number' then
  return redis.error_reply('FERRY_STORED ' .. KEYS[1] .. ' is not an issued plan')
end
if plan.nonce ~= ARGV[1] then return {'nonce'} end
if plan.issuedTo ~= ARGV[2] then return {'user', raw} end
local used = redis.call('GET', KEYS[2])
if used then return {'used', used} end
if tonumber(ARGV[3]) >= plan.expiresAt then return {'expired', raw} end
if not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return {'used', redis.call('GET', KEYS[2])}
end
return {'ok', raw}
`);

/** Issued plans in Redis; a claim is one script, so two Confirm clicks on two replicas start one evacuation. */
export class RedisPlans implements PlanStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    /** An issued plan and the mark of its use are kept `usedNonceS` past its expiry: refusals can name who used it. */
    private readonly retention: Pick<Retention, 'usedNonceS'> = retentionSchema.parse({}),
  ) {
    this.keys = new Keys(prefix);
  }

  async issue(plan: IssuedPlan): Promise<void> {
    const key = this.keys.plan(plan.id);
    await this.redis.set(key, encode('plan', plan), 'PX', this.keepMs(plan), 'NX');
    // The preview shown to a person must still be there when they confirm it, failover or not.
    await confirmReplicated(this.redis, key, 'a plan preview');
  }

  async get(id: string): Promise<IssuedPlan | undefined> {
    const key = this.keys.plan(id);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('plan', raw, key);
  }

  async claim(ticket: PlanTicket, by: string, at: number, use: PlanUse) {
    const key = this.keys.plan(ticket.planId);
    const [code, raw] = (await CLAIM.run(
      this.redis,
      [key, this.keys.planUsed(ticket.planId)],
      [ticket.nonce, by, at, encode('planUse', { use, by, at }), this.keepMs()],
    )) as [string, string | undefined];
    const plan = () => decode('plan', raw ?? '', key);
    // A confirmed plan is used once, across a failover too.
    if (code === 'ok') await confirmReplicated(this.redis, key, 'a confirmed plan');
    switch (code) {
      case 'ok':
        return { ok: true, plan: plan() } as const;
      case 'user':
        return { ok: false, why: 'user', issuedTo: plan().issuedTo } as const;
      case 'expired':
        return { ok: false, why: 'expired', expiresAt: plan().expiresAt } as const;
      case 'used':
        return { ok: false, why: 'used', ...decode('planUse', raw ?? '', `${key}:used`) } as const;
      case 'nonce':
        return { ok: false, why: 'nonce' } as const;
      default:
        return { ok: false, why: 'unknown' } as const;
    }
  }

  /** A used nonce's mark lives `usedNonceS`; a plan that long past its own life. */
  private keepMs(plan?: IssuedPlan): number {
    const life = plan ? Math.max(0, plan.expiresAt - plan.issuedAt) : 0;
    return Math.round(life + this.retention.usedNonceS * 1000);
  }
}
