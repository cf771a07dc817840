import type { HostLocks } from '../../ports.js';
import type { RedisClient } from './config.js';
import { Keys } from './keys.js';
import { LuaScript } from './script.js';

/**
 * Takes a host for an evacuation. KEYS[1] is the host lock; ARGV[2] the key prefix of evacuation
 * records (same hash tag, so the same Cluster slot, as the lock). The lock is free, already ours, or held by an evacuation
 * that has ended (its worker died before releasing): then it is ours. Otherwise: the holder.
 * The holder's record is read in the script, so "has ended" cannot change under us.
 */
const ACQUIRE = new LuaScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local raw = redis.call('GET', ARGV[2] .. holder)
  local ended = false
  if raw then
    local ok, evacuation = pcall(cjson.decode, raw)
    if ok and type(evacuation) == 'table' then
      local state = evacuation.state
      ended = state == 'completed' or state == 'partial' or state == 'failed'
        or state == 'aborted' or state == 'cancelled'
    end
  end
  if not ended then return holder end
end
redis.call('SET', KEYS[1], ARGV[1])
return false
`);

/** Deletes a lock (KEYS[1]) only if ARGV[1] still holds it: a late holder never frees a successor's. */
export const RELEASE_IF_HELD = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`);

/** One evacuation per host across every process, enforced by Redis scripts. */
export class RedisLocks implements HostLocks {
  private readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
  ) {
    this.keys = new Keys(prefix);
  }

  async acquire(host: string, evacuationId: string): Promise<string | undefined> {
    const keys = [this.keys.hostLock(host)];
    const result = await ACQUIRE.run(this.redis, keys, [evacuationId, this.keys.evacuation('')]);
    return typeof result === 'string' ? result : undefined;
  }

  async release(host: string, evacuationId: string): Promise<void> {
    await RELEASE_IF_HELD.run(this.redis, [this.keys.hostLock(host)], [evacuationId]);
  }

  /** The evacuation holding a host, if any. */
  async holder(host: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.hostLock(host))) ?? undefined;
  }
}
