import { randomUUID } from 'node:crypto';
import {
  type Evacuation,
  type FerryEvent,
  FINAL_EVACUATION_STATES,
  holdsHost,
  isActiveMigration,
} from '../../model.js';
import type { CreateResult, EngineStore, MigrationRecord } from '../../ports.js';
import type { RedisClient } from './config.js';
import { LockLostError, StoredStateError } from './errors.js';
import { Keys } from './keys.js';
import { confirmReplicated } from './replication.js';
import { decode } from './schemas.js';
import { LuaScript } from './script.js';

/**
 * The engine's durable state in Redis: evacuations and migration records as JSON strings, and an
 * append-only stream of events per evacuation whose n-th entry has the id `<n>-0`. Reading "from
 * the k-th event on" is then one XRANGE, and a gap or a duplicate cannot be written: every commit
 * appends after the stream's current length, inside the same script that writes the records, and
 * carries an id so that the same commit re-sent after a dropped connection is applied once.
 */

/**
 * One commit, atomically. KEYS[1] is the evacuation index, KEYS[2] its counter, KEYS[3] the set of
 * active migrations; ARGV[1] is a
 * JSON plan naming the other keys by index. A fenced commit first checks that the BullMQ job
 * lock still holds this worker's token: a worker that lost its job writes nothing.
 */
const COMMIT = new LuaScript(`
local plan = cjson.decode(ARGV[1])
-- Every check before the first write: Redis does not roll back a script that fails half-way.
for _, s in ipairs(plan.streams) do
  local t = redis.call('TYPE', KEYS[s.key]).ok
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[s.key] .. ' is a ' .. t .. ', not an event stream')
  end
end
if plan.fence then
  if redis.call('GET', KEYS[plan.fence.key]) ~= plan.fence.token then
    return redis.error_reply('FERRY_FENCED job lock lost')
  end
end
-- A commit re-sent after a lost reply (the client resends unanswered commands on reconnect) is
-- applied once: its id is remembered for an hour.
if not redis.call('SET', KEYS[plan.commit.key], '1', 'NX', 'PX', 3600000) then
  return 'DUPLICATE'
end
if plan.evacuation then
  redis.call('SET', KEYS[plan.evacuation.key], plan.evacuation.json)
  if not redis.call('ZSCORE', KEYS[1], plan.evacuation.id) then
    redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), plan.evacuation.id)
  end
  -- The evacuation has ended: its host is free, in the step that records the end.
  local release = plan.evacuation.release
  if release and redis.call('GET', KEYS[release]) == plan.evacuation.id then
    redis.call('DEL', KEYS[release])
  end
end
for _, m in ipairs(plan.migrations) do
  redis.call('SET', KEYS[m.key], m.json)
  if m.active then redis.call('SADD', KEYS[3], m.id) else redis.call('SREM', KEYS[3], m.id) end
end
for _, s in ipairs(plan.streams) do
  local n = redis.call('XLEN', KEYS[s.key])
  for i, e in ipairs(s.events) do
    redis.call('XADD', KEYS[s.key], string.format('%d-0', n + i), 'type', e.type, 'event', e.json)
  end
end
return 'OK'
`);

/** Where a fenced store checks that its worker still owns the job. */
export interface Fence {
  /** BullMQ's lock key of the job. */
  key: string;
  /** The worker's token for the job. */
  token: string;
  evacuationId: string;
}

/**
 * A new evacuation, atomically: its id reserved (the record written with its first events only
 * if no record has that id) and, when it drains a host, the host taken unless an open
 * evacuation holds it. A holder whose record is gone or has ended is stale: the host is ours.
 * KEYS: the index, its counter, the record, the event stream, the host lock (or the record
 * again); ARGV: the id, the record JSON, the events as JSON [{type, json}], `1` to take the
 * host, the record key prefix. Returns `{'ok'}`, `{'taken'}` or `{'held', holder}`.
 */
const CREATE = new LuaScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return {'taken'} end
if ARGV[4] == '1' then
  local holder = redis.call('GET', KEYS[5])
  if holder and holder ~= ARGV[1] then
    local raw = redis.call('GET', ARGV[5] .. holder)
    local ended = true
    if raw then
      local ok, evacuation = pcall(cjson.decode, raw)
      if ok and type(evacuation) == 'table' then
        local state = evacuation.state
        ended = state == 'completed' or state == 'partial' or state == 'failed'
          or state == 'aborted' or state == 'cancelled'
      end
    end
    if not ended then return {'held', holder} end
  end
  redis.call('SET', KEYS[5], ARGV[1])
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
local n = redis.call('XLEN', KEYS[4])
for i, e in ipairs(cjson.decode(ARGV[3])) do
  redis.call('XADD', KEYS[4], string.format('%d-0', n + i), 'type', e.type, 'event', e.json)
end
return {'ok'}
`);

interface CommitPlan {
  commit: { key: number };
  fence?: { key: number; token: string };
  evacuation?: { key: number; id: string; json: string; release?: number };
  migrations: { key: number; id: string; json: string; active: boolean }[];
  streams: { key: number; events: { type: string; json: string }[] }[];
}

export class RedisStore implements EngineStore {
  readonly keys: Keys;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly fence?: Fence,
    /** Ids that make a re-sent commit a no-op; unique per call (tests inject repeats). */
    private readonly newCommitId: () => string = randomUUID,
  ) {
    this.keys = new Keys(prefix);
  }

  /** The same store, whose commits succeed only while `fence.key` holds `fence.token`. */
  fenced(fence: Fence): RedisStore {
    return new RedisStore(this.redis, this.keys.prefix, fence, this.newCommitId);
  }

  async commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void> {
    const keys = [this.keys.evacuationIndex(), this.keys.evacuationSeq(), this.keys.activeMigrations()];
    const key = (name: string) => keys.push(name);
    const plan: CommitPlan = {
      commit: { key: key(this.keys.commit(this.newCommitId())) },
      migrations: [],
      streams: [],
    };
    if (this.fence) plan.fence = { key: key(this.fence.key), token: this.fence.token };
    if (change.evacuation) {
      const evacuation = change.evacuation;
      const id = evacuation.request.id;
      plan.evacuation = { key: key(this.keys.evacuation(id)), id, json: JSON.stringify(evacuation) };
      if (holdsHost(evacuation) && FINAL_EVACUATION_STATES.includes(evacuation.state))
        plan.evacuation.release = key(this.keys.hostLock(evacuation.request.source));
    }
    for (const record of change.migrations ?? [])
      plan.migrations.push({
        key: key(this.keys.migration(record.migration.id)),
        id: record.migration.id,
        json: JSON.stringify(record),
        active: isActiveMigration(record.migration.state),
      });
    const streams = new Map<string, CommitPlan['streams'][number]>();
    for (const event of change.events ?? []) {
      let stream = streams.get(event.evacuationId);
      if (!stream) {
        stream = { key: key(this.keys.events(event.evacuationId)), events: [] };
        streams.set(event.evacuationId, stream);
        plan.streams.push(stream);
      }
      stream.events.push({ type: event.type, json: JSON.stringify(event) });
    }
    try {
      await COMMIT.run(this.redis, keys, [JSON.stringify(plan)]);
    } catch (err) {
      if (this.fence && err instanceof Error && err.message.startsWith('FERRY_FENCED'))
        throw new LockLostError(this.fence.evacuationId);
      throw err;
    }
    await confirmReplicated(this.redis, keys[0]!, 'a step commit');
  }

  async create(evacuation: Evacuation, events: FerryEvent[]): Promise<CreateResult> {
    const { id, source } = evacuation.request;
    const record = this.keys.evacuation(id);
    const hold = holdsHost(evacuation);
    const result = (await CREATE.run(
      this.redis,
      [
        this.keys.evacuationIndex(),
        this.keys.evacuationSeq(),
        record,
        this.keys.events(id),
        hold ? this.keys.hostLock(source) : record,
      ],
      [
        id,
        JSON.stringify(evacuation),
        JSON.stringify(events.map((e) => ({ type: e.type, json: JSON.stringify(e) }))),
        hold ? '1' : '0',
        this.keys.evacuation(''),
      ],
    )) as string[];
    if (result[0] === 'taken') return { created: false, taken: true };
    if (result[0] === 'held') return { created: false, holder: result[1]! };
    await confirmReplicated(this.redis, record, 'a new evacuation and its host lock');
    return { created: true };
  }

  async holder(host: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.hostLock(host))) ?? undefined;
  }

  async loadEvacuation(id: string): Promise<Evacuation | undefined> {
    const key = this.keys.evacuation(id);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('evacuation', raw, key);
  }

  async loadMigration(id: string): Promise<MigrationRecord | undefined> {
    const key = this.keys.migration(id);
    const raw = await this.redis.get(key);
    return raw === null ? undefined : decode('migration', raw, key);
  }

  async loadMigrations(ids: readonly string[]): Promise<MigrationRecord[]> {
    return this.loadMany(
      'migration',
      ids.map((id) => this.keys.migration(id)),
    );
  }

  async events(evacuationId: string, after = 0): Promise<FerryEvent[]> {
    const key = this.keys.events(evacuationId);
    const entries = await this.redis.xrange(key, `${Math.max(0, Math.floor(after)) + 1}-0`, '+');
    return entries.map(([id, fields]) => {
      const at = fields.indexOf('event');
      const json = at >= 0 ? fields[at + 1] : undefined;
      if (json === undefined) throw new StoredStateError(`event at ${key} ${id}`, 'no event field');
      return decode('event', json, `${key} ${id}`);
    });
  }

  /** How many events an evacuation's stream holds. */
  async eventCount(evacuationId: string): Promise<number> {
    return this.redis.xlen(this.keys.events(evacuationId));
  }

  async activeMigrations(): Promise<MigrationRecord[]> {
    const ids = await this.redis.smembers(this.keys.activeMigrations());
    return this.loadMany(
      'migration',
      ids.map((id) => this.keys.migration(id)),
    );
  }

  async listEvacuations(): Promise<Evacuation[]> {
    const ids = await this.redis.zrevrange(this.keys.evacuationIndex(), 0, -1);
    return this.loadMany(
      'evacuation',
      ids.map((id) => this.keys.evacuation(id)),
    );
  }

  /** Stored values of `keys` in one round trip, decoded; keys that vanished meanwhile are left out. */
  private async loadMany<K extends 'migration' | 'evacuation'>(kind: K, keys: string[]) {
    if (keys.length === 0) return [];
    const values = await this.redis.mget(...keys);
    return values.flatMap((raw, i) => (raw === null ? [] : [decode(kind, raw, keys[i]!)]));
  }
}
