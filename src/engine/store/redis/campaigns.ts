import { type Campaign, FINAL_CAMPAIGN_STATES } from '../../model.js';
import type { CampaignStore } from '../../ports.js';
import { type RedisClient, type Retention, retentionSchema } from './config.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode, encode } from './schemas.js';
import { LuaScript } from './script.js';

/**
 * Saves a campaign over the version it read, in one step. KEYS[1] the record, KEYS[2] the
 * index, KEYS[3] its counter; ARGV: the id, the version read (0: none), the JSON, and for a
 * campaign that has ended the ms its record is kept (its retention; 0: open). 1 if saved.
 */
const SAVE = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
local stored = 0
if raw then
  local ok, campaign = pcall(cjson.decode, raw)
  if not ok or type(campaign) ~= 'table' or type(campaign.version) ~= 'number' then
    return redis.error_reply('FERRY_STORED ' .. KEYS[1] .. ' is not a campaign')
  end
  stored = campaign.version
end
if stored ~= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
if not raw then redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1]) end
return 1
`);

/** Campaign records in Redis, each save a compare-and-set script; an ended one expires after `finishedS`. */
export class RedisCampaigns implements CampaignStore {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly retention: Pick<Retention, 'finishedS'> = retentionSchema.parse({}),
  ) {
    this.keys = new Keys(prefix);
  }

  async save(campaign: Campaign): Promise<boolean> {
    const keys = [this.keys.campaign(campaign.id), this.keys.campaignIndex(), this.keys.campaignSeq()];
    const saved = await SAVE.run(this.redis, keys, [
      campaign.id,
      campaign.version - 1,
      encode('campaign', campaign),
      FINAL_CAMPAIGN_STATES.includes(campaign.state) ? Math.round(this.retention.finishedS * 1000) : 0,
    ]);
    if (saved === 1) await confirmReplicated(this.redis, keys[0]!, 'a campaign');
    return saved === 1;
  }

  async load(id: string): Promise<Campaign | undefined> {
    const key = this.keys.campaign(id);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('campaign', raw, key);
  }

  async list(): Promise<Campaign[]> {
    const ids = await this.redis.zrevrange(this.keys.campaignIndex(), 0, -1);
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.keys.campaign(id));
    const values = await this.redis.mget(...keys);
    // Expired ones leave the index.
    const expired = ids.filter((_, i) => values[i] === null);
    if (expired.length > 0) await this.redis.zrem(this.keys.campaignIndex(), ...expired);
    return values.flatMap((raw, i) => (raw === null ? [] : [decode('campaign', raw, keys[i]!)]));
  }
}
