import { randomUUID } from 'node:crypto';
import { Batcher } from '../../batch.js';
import {
  type Evacuation,
  earlyApprovalId,
  type FerryEvent,
  FINAL_EVACUATION_STATES,
  holdsHost,
  isActiveMigration,
  needsSwitchover,
} from '../../model.js';
import type { CreateResult, EngineStore, MigrationRecord } from '../../ports.js';
import type { RedisClient } from './config.js';
import { type Retention, retentionSchema } from './config.js';
import { EvacuationEndedError, LockLostError, SchemaVersionError, StoredStateError } from './errors.js';
import { Keys } from './keys.js';
import { confirmReplicated, confirmSettled } from './replication.js';
import { decode, encode } from './schemas.js';
import { LuaScript } from './script.js';
import { SCHEMA_VERSION } from './version.js';

/**
 * The engine's durable state in Redis: evacuations and migration records as JSON strings, and an
 * append-only stream of events per evacuation whose n-th entry has the id `<n>-0`. Reading "from
 * the k-th event on" is then one XRANGE, and a gap or a duplicate cannot be written: every commit
 * appends after the stream's current length, inside the same script that writes the records, and
 * carries an id so that the same commit re-sent after a dropped connection is applied once.
 */

/**
 * Lua: `ended(raw)` is true when a stored evacuation's JSON is unreadable or in a final state;
 * `finished(raw)` only when it is readable and in a final state.
 */
const ENDED = `
local function finished(raw)
  local ok, evacuation = pcall(cjson.decode, raw)
  if not ok or type(evacuation) ~= 'table' then return false end
  local state = evacuation.state
  return state == 'completed' or state == 'partial' or state == 'failed'
    or state == 'aborted' or state == 'cancelled'
end
local function ended(raw)
  local ok, evacuation = pcall(cjson.decode, raw)
  return not ok or type(evacuation) ~= 'table' or finished(raw)
end
`;

/**
 * A batch of commits (those that arrive together: every evacuation a worker steps on one tick),
 * each atomically, in one script. KEYS[1] is the evacuation index, KEYS[2] its counter, KEYS[3]
 * the set of active migrations, KEYS[4] the open-evacuations index, KEYS[5] the expiry index,
 * KEYS[6] the batch's id; ARGV[1] is `{plans, sweep}`, each plan naming its own keys by index
 * from its `base`. Every plan is checked before the first write (Redis does not roll back a
 * script that fails half-way): one whose event stream is not a stream, or whose fence (the
 * BullMQ job lock) no longer holds its worker's token, writes nothing, and the others go on.
 * Returns the plans' outcomes as JSON: 'OK', 'FERRY_FENCED…', 'FERRY_ENDED…' (an open state over
 * an ended evacuation: refused, EvacuationEndedError), or 'WRONGTYPE <key>'.
 *
 * The records of all plans go in one MSET and the active index in one SADD and one SREM: a tick
 * of 250 evacuations watching 1,000 migrations costs a handful of commands, not a few per
 * evacuation. The commit that records an evacuation's end sets the expiry of everything it
 * leaves behind (its retention).
 */
const COMMIT = new LuaScript(`${ENDED}
-- A batch re-sent after a lost reply (the client resends unanswered commands on reconnect) is
-- applied once: its outcomes are remembered for an hour under its id.
local seen = redis.call('GET', KEYS[6])
if seen then return seen end
local batch = cjson.decode(ARGV[1])
local plans = batch.plans
local function K(p, i) return KEYS[p.base + i] end
-- In slices: unpack has a limit of a few thousand values.
local function batched(command, key, values)
  local out = {}
  for i = 1, #values, 1000 do
    local slice = { unpack(values, i, math.min(i + 999, #values)) }
    local reply
    if key then reply = redis.call(command, key, unpack(slice)) else reply = redis.call(command, unpack(slice)) end
    if type(reply) == 'table' then for _, v in ipairs(reply) do table.insert(out, v) end end
  end
  return out
end
local results, lengths = {}, {}
local fences = {}
for _, p in ipairs(plans) do
  if p.fence then table.insert(fences, K(p, p.fence.key)) end
end
local held = batched('MGET', nil, fences)
local f = 0
for i, p in ipairs(plans) do
  local result = 'OK'
  for _, s in ipairs(p.streams) do
    local key = K(p, s.key)
    if lengths[key] == nil then
      local n = redis.pcall('XLEN', key)
      if type(n) == 'table' and n.err then
        result = 'WRONGTYPE ' .. key
        break
      end
      lengths[key] = n
    end
  end
  if p.fence then
    f = f + 1
    if result == 'OK' and held[f] ~= p.fence.token then result = 'FERRY_FENCED job lock lost' end
  end
  -- An ended evacuation stays ended: a stale runner (or one resumed from a state a failover
  -- took back) never writes an open state over its end.
  if result == 'OK' and p.evacuation and not p.evacuation.ended then
    local stored = redis.call('GET', K(p, p.evacuation.key))
    if stored and finished(stored) then result = 'FERRY_ENDED evacuation has ended' end
  end
  results[i] = result
end
local records, active = {}, {}
for i, p in ipairs(plans) do
  if results[i] == 'OK' then
    if p.evacuation then
      table.insert(records, K(p, p.evacuation.key))
      table.insert(records, p.evacuation.json)
    end
    for _, m in ipairs(p.migrations) do
      table.insert(records, K(p, m.key))
      table.insert(records, m.json)
      active[m.id] = m.active
    end
  end
end
batched('MSET', nil, records)
local add, remove = {}, {}
for id, on in pairs(active) do table.insert(on and add or remove, id) end
batched('SADD', KEYS[3], add)
batched('SREM', KEYS[3], remove)
local now
local function time()
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
for i, p in ipairs(plans) do
  if results[i] == 'OK' then
    -- An evacuation this store already indexed (and that has not ended) is in both indexes.
    if p.evacuation and not p.evacuation.indexed then
      if not redis.call('ZSCORE', KEYS[1], p.evacuation.id) then
        redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), p.evacuation.id)
      end
      -- Also indexes an evacuation an older ferry (without the index) created.
      if p.expire then redis.call('SREM', KEYS[4], p.evacuation.id)
      else redis.call('SADD', KEYS[4], p.evacuation.id) end
    end
    if p.evacuation and p.evacuation.release then
      -- The evacuation has ended: its host is free, in the step that records the end.
      local release = K(p, p.evacuation.release)
      if redis.call('GET', release) == p.evacuation.id then redis.call('DEL', release) end
    end
    for _, s in ipairs(p.streams) do
      local key = K(p, s.key)
      local n = lengths[key]
      for j, e in ipairs(s.events) do
        redis.call('XADD', key, string.format('%d-0', n + j), 'type', e.type, 'event', e.json)
      end
      lengths[key] = n + #s.events
    end
    if p.expire then
      for _, k in ipairs(p.expire.keys) do redis.call('PEXPIRE', K(p, k), p.expire.ms) end
      redis.call('ZADD', KEYS[5], time() + p.expire.ms, p.evacuation.id)
    end
  end
end
if batch.sweep then
  -- Evacuations whose records have expired leave the index, a few at a time.
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', time(), 'LIMIT', 0, 100)) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[5], id)
  end
end
local outcome = cjson.encode(results)
redis.call('SET', KEYS[6], outcome, 'PX', 3600000)
return outcome
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
 * again), the open index; ARGV: the id, the record JSON, the events as JSON [{type, json}], `1`
 * to take the host, the record key prefix. Returns `{'ok'}`, `{'taken'}` or `{'held', holder}`.
 */
const CREATE = new LuaScript(`${ENDED}
if redis.call('EXISTS', KEYS[3]) == 1 then return {'taken'} end
if ARGV[4] == '1' then
  local holder = redis.call('GET', KEYS[5])
  if holder and holder ~= ARGV[1] then
    local raw = redis.call('GET', ARGV[5] .. holder)
    if raw and not ended(raw) then return {'held', holder} end
  end
  redis.call('SET', KEYS[5], ARGV[1])
end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
local n = redis.call('XLEN', KEYS[4])
for i, e in ipairs(cjson.decode(ARGV[3])) do
  redis.call('XADD', KEYS[4], string.format('%d-0', n + i), 'type', e.type, 'event', e.json)
end
return {'ok'}
`);

/**
 * The open index, caught up: evacuations created since it last looked (by the order number in
 * KEYS[1], above the mark in KEYS[3]) that are open join it (KEYS[2]). That takes in whatever an
 * older ferry without the index created, and on the first call after an upgrade builds the index
 * from every evacuation once; afterwards each call reads only the few created since. Those of
 * them that have ended and do not expire (an older ferry ended them) are returned too, for their
 * retention. ARGV[1]: the record key prefix. Returns {the index's ids, ended ids without expiry}.
 */
const OPEN = new LuaScript(`${ENDED}
local mark = tonumber(redis.call('GET', KEYS[3]) or '0')
local tail = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. mark, '+inf', 'WITHSCORES')
local unexpired = {}
for i = 1, #tail, 2 do
  local key = ARGV[1] .. tail[i]
  local raw = redis.call('GET', key)
  if raw and not ended(raw) then redis.call('SADD', KEYS[2], tail[i])
  elseif raw and finished(raw) and redis.call('PTTL', key) == -1 then table.insert(unexpired, tail[i]) end
  mark = math.max(mark, tonumber(tail[i + 1]))
end
if #tail > 0 then redis.call('SET', KEYS[3], mark) end
return {redis.call('SMEMBERS', KEYS[2]), unexpired}
`);

/**
 * Gives an evacuation an older ferry ended (without setting its retention) the expiry the commit
 * of its end would have set: KEYS[1] the expiry index, KEYS[2] the open index, KEYS[3] its record,
 * KEYS[4..] what else it left; ARGV[1] its id, ARGV[2] the retention in ms. Only a record that
 * still reads as ended and does not expire yet is touched (an unreadable one is left for a
 * person). Returns 1 when it set the expiry.
 */
const EXPIRE_ENDED = new LuaScript(`${ENDED}
local raw = redis.call('GET', KEYS[3])
if not raw or redis.call('PTTL', KEYS[3]) ~= -1 or not finished(raw) then return 0 end
for i = 3, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2]), ARGV[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`);

/**
 * Marks the keyspace (KEYS[1]) as version ARGV[1] unless a newer ferry marked it: returns the
 * version that stands (a newer one is refused by the caller), or {'bad', raw} for a stranger's value.
 */
const SCHEMA = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
local found = tonumber(raw or '0')
if not found then return {'bad', raw} end
if found < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return {'ok', ARGV[1]} end
return {'ok', tostring(found)}
`);

/** One commit of a batch; key numbers count from its own `base` in the batch's KEYS. */
interface CommitPlan {
  base?: number;
  fence?: { key: number; token: string };
  evacuation?: {
    key: number;
    id: string;
    json: string;
    release?: number;
    indexed?: boolean;
    ended?: boolean;
  };
  /** The evacuation ended: these keys expire in `ms` (its retention). */
  expire?: { keys: number[]; ms: number };
  migrations: { key: number; id: string; json: string; active: boolean }[];
  streams: { key: number; events: { type: string; json: string }[] }[];
}

/** A commit waiting for its batch: its plan, the keys it names, whether it asks for a sweep. */
interface Pending {
  plan: CommitPlan;
  keys: string[];
  sweep: boolean;
}

/** How often one process's commits look for expired evacuations to drop from the index, by default. */
const SWEEP_MS = 10_000;

export class RedisStore implements EngineStore {
  readonly keys: Keys;
  /** Evacuations this store's commits have indexed, open (the index need not be touched again). */
  private readonly indexed = new Set<string>();
  private readonly commits: Batcher<Pending, string>;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly fence?: Fence,
    /** Ids that make a re-sent commit a no-op; unique per call (tests inject repeats). */
    private readonly newCommitId: () => string = randomUUID,
    /** How long an ended evacuation's records are kept (redis.retention.finishedS). */
    private readonly retention: Pick<Retention, 'finishedS'> = retentionSchema.parse({}),
    /** Told the events of every commit that succeeded (metrics); never fails a commit. */
    private readonly onCommitted?: (events: readonly FerryEvent[]) => void,
    /**
     * When this process last swept the index for expired evacuations, and how often it does
     * (shared by the fenced copies of a store): two commands a step saved on every evacuation.
     */
    private readonly swept = { atMs: Number.NEGATIVE_INFINITY, everyMs: SWEEP_MS },
    /** The commits that arrive together, sent as one script (shared by the fenced copies). */
    commits?: Batcher<Pending, string>,
  ) {
    this.keys = new Keys(prefix);
    this.commits = commits ?? new Batcher((batch) => this.sendCommits(batch));
  }

  /** The same store, whose commits succeed only while `fence.key` holds `fence.token`. */
  fenced(fence: Fence): RedisStore {
    return new RedisStore(
      this.redis,
      this.keys.prefix,
      fence,
      this.newCommitId,
      this.retention,
      this.onCommitted,
      this.swept,
      this.commits,
    );
  }

  /**
   * Readies the keyspace for this version before a process works on it: refuses one a newer
   * ferry marked (SchemaVersionError), marks an older or new one as this version, and builds the
   * open index an older ferry did not keep (or catches it up). Safe to run from every process.
   */
  async prepare(): Promise<void> {
    const key = this.keys.schema();
    const [code, found] = (await SCHEMA.run(this.redis, [key], [SCHEMA_VERSION])) as [string, string];
    if (code === 'bad') throw new StoredStateError(`schema version at ${key}`, `${found} is not a number`);
    if (Number(found) > SCHEMA_VERSION)
      throw new SchemaVersionError(`the keyspace ${this.keys.prefix}`, Number(found));
    await this.openEvacuations();
  }

  async commit(change: {
    evacuation?: Evacuation;
    migrations?: MigrationRecord[];
    events?: FerryEvent[];
  }): Promise<void> {
    const keys: string[] = [];
    const key = (name: string) => keys.push(name);
    const plan: CommitPlan = { migrations: [], streams: [] };
    if (this.fence) plan.fence = { key: key(this.fence.key), token: this.fence.token };
    if (change.evacuation) {
      const evacuation = change.evacuation;
      const id = evacuation.request.id;
      const ended = FINAL_EVACUATION_STATES.includes(evacuation.state);
      plan.evacuation = {
        key: key(this.keys.evacuation(id)),
        id,
        json: encode('evacuation', evacuation),
        ...(this.indexed.has(id) && !ended && { indexed: true }),
        ...(ended && { ended: true }),
      };
      if (holdsHost(evacuation) && ended)
        plan.evacuation.release = key(this.keys.hostLock(evacuation.request.source));
      if (ended)
        plan.expire = {
          keys: (await this.leftBehind(evacuation, change.migrations ?? [])).map(key),
          ms: Math.round(this.retention.finishedS * 1000),
        };
    }
    for (const record of change.migrations ?? [])
      plan.migrations.push({
        key: key(this.keys.migration(record.migration.id)),
        id: record.migration.id,
        json: encode('migration', record),
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
      stream.events.push({ type: event.type, json: encode('event', event) });
    }
    const nowMs = Date.now();
    const sweep = nowMs - this.swept.atMs >= this.swept.everyMs;
    if (sweep) this.swept.atMs = nowMs;
    const outcome = await this.commits.call({ plan, keys, sweep });
    if (outcome.startsWith('FERRY_FENCED')) throw new LockLostError(this.fence!.evacuationId);
    if (outcome.startsWith('FERRY_ENDED')) throw new EvacuationEndedError(change.evacuation!.request.id);
    if (outcome.startsWith('WRONGTYPE '))
      throw new StoredStateError(`event stream at ${outcome.slice('WRONGTYPE '.length)}`, 'not a stream');
    if (outcome !== 'OK') throw new StoredStateError('a commit', outcome);
    const id = change.evacuation?.request.id;
    if (id !== undefined) {
      if (FINAL_EVACUATION_STATES.includes(change.evacuation!.state)) this.indexed.delete(id);
      else this.indexed.add(id);
    }
    try {
      this.onCommitted?.(change.events ?? []);
    } catch {
      // What is told after a commit cannot undo it: an observer's failure is its own.
    }
  }

  /**
   * Sends the commits that arrived together as one script (COMMIT) and waits once for the
   * replicas (WAIT, replication.ts) before any of them is acknowledged; each gets its outcome.
   */
  private async sendCommits(batch: Pending[]): Promise<string[]> {
    const keys = [
      this.keys.evacuationIndex(),
      this.keys.evacuationSeq(),
      this.keys.activeMigrations(),
      this.keys.openEvacuations(),
      this.keys.evacuationExpiry(),
      this.keys.commit(this.newCommitId()),
    ];
    const plans = batch.map(({ plan, keys: own }) => {
      const base = keys.length;
      keys.push(...own);
      return { ...plan, base };
    });
    const sweep = batch.some((p) => p.sweep);
    const reply = (await COMMIT.run(this.redis, keys, [JSON.stringify({ plans, sweep })])) as string;
    await confirmReplicated(this.redis, keys[0]!, 'a step commit');
    return JSON.parse(reply) as string[];
  }

  /**
   * Every key an ended evacuation leaves: its record and event stream, its migrations' records,
   * their approval requests and decisions, the operator's command, maintenance answers and
   * post-copy recovery requests.
   */
  private async leftBehind(evacuation: Evacuation, changed: readonly MigrationRecord[]): Promise<string[]> {
    const { id } = evacuation.request;
    const fresh = new Map(changed.map((r) => [r.migration.id, r]));
    const stale = evacuation.migrations.map((m) => m.id).filter((m) => !fresh.has(m));
    const records = [...fresh.values(), ...(await this.loadMigrations(stale))];
    const approvals = records.flatMap((r) =>
      // Approval ids are `<migration id>:approval-<n>`, n counting from 1 (policy.ts).
      Array.from({ length: r.watch?.approvalsAsked ?? 0 }, (_, n) => `${r.migration.id}:approval-${n + 1}`),
    );
    // Pre-approvals (asked at confirm, started or not) have ids fixed by the plan's moves.
    const early = evacuation.plan.moves
      .filter(needsSwitchover)
      .map((m) => earlyApprovalId(`${id}:${m.instance}`));
    const attempts = evacuation.maintenanceRun?.attempt ?? 0;
    // Post-copy recovery requests: each one the runner took, and the next, asked and not yet taken.
    const recoveries = records
      .filter((r) => r.watch?.switchedOver === 'postcopy')
      .flatMap((r) =>
        Array.from({ length: (r.watch?.postcopyRecoveries ?? 0) + 1 }, (_, n) =>
          this.keys.recoveryRequest(r.migration.id, n + 1),
        ),
      );
    return [
      this.keys.evacuation(id),
      this.keys.events(id),
      this.keys.control(id),
      this.keys.approvalIndex(id),
      ...evacuation.migrations.map((m) => this.keys.migration(m.id)),
      ...[...approvals, ...early].flatMap((a) => [this.keys.approval(a), this.keys.decision(a)]),
      ...Array.from({ length: attempts }, (_, n) => this.keys.maintenanceAnswer(id, n + 1)),
      ...recoveries,
    ];
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
        this.keys.openEvacuations(),
      ],
      [
        id,
        encode('evacuation', evacuation),
        JSON.stringify(events.map((e) => ({ type: e.type, json: encode('event', e) }))),
        hold ? '1' : '0',
        this.keys.evacuation(''),
      ],
    )) as string[];
    if (result[0] === 'taken') return { created: false, taken: true };
    if (result[0] === 'held') return { created: false, holder: result[1]! };
    await confirmReplicated(this.redis, record, 'a new evacuation and its host lock');
    return { created: true };
  }

  /**
   * Resolves once everything read from this store so far is on enough replicas (see
   * confirmSettled): a runner resumes, and a bot shows, only what a failover cannot take back.
   */
  async settle(): Promise<void> {
    await confirmSettled(this.redis, this.keys.settled(), 'the state just read');
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

  /**
   * Open evacuations, newest first, from the open index (caught up first: see OPEN). Ended ones
   * it finds without an expiry (an older ferry ended them) get their retention on the way.
   */
  async openEvacuations(): Promise<Evacuation[]> {
    const index = this.keys.openEvacuations();
    const [ids, unexpired] = (await OPEN.run(
      this.redis,
      [this.keys.evacuationIndex(), index, this.keys.openIndexed()],
      [this.keys.evacuation('')],
    )) as [string[], string[]];
    if (unexpired.length > 0) await this.expireEnded(unexpired);
    if (ids.length === 0) return [];
    const order = await this.redis.zmscore(this.keys.evacuationIndex(), ...ids);
    const byAge = ids.map((id, i) => ({ id, at: Number(order[i] ?? 0) })).sort((a, b) => b.at - a.at);
    const records = await this.loadMany(
      'evacuation',
      byAge.map((e) => this.keys.evacuation(e.id)),
    );
    const open = records.filter((e) => !FINAL_EVACUATION_STATES.includes(e.state));
    // Ended by an older ferry (which does not keep the index, nor set expiries) or expired: out of
    // the index, and the ended ones given their retention.
    const ended = records.filter((e) => FINAL_EVACUATION_STATES.includes(e.state));
    if (ended.length > 0) await this.expireEnded(ended.map((e) => e.request.id));
    const gone = byAge.map((e) => e.id).filter((id) => !open.some((e) => e.request.id === id));
    if (gone.length > 0) await this.redis.srem(index, ...gone);
    return open;
  }

  /**
   * Sets the retention of ended evacuations that have none (EXPIRE_ENDED): kept `finishedS` from
   * now, everything they left with them. Those that expire already are left as they are.
   */
  private async expireEnded(ids: readonly string[]): Promise<void> {
    const ms = Math.round(this.retention.finishedS * 1000);
    for (let i = 0; i < ids.length; i += 100) {
      const batch = ids.slice(i, i + 100);
      const ttls = await Promise.all(batch.map((id) => this.redis.pttl(this.keys.evacuation(id))));
      const records = await this.loadMany(
        'evacuation',
        batch.filter((_, n) => ttls[n] === -1).map((id) => this.keys.evacuation(id)),
      );
      for (const evacuation of records) {
        if (!FINAL_EVACUATION_STATES.includes(evacuation.state)) continue;
        const [record, ...rest] = await this.leftBehind(evacuation, []);
        await EXPIRE_ENDED.run(
          this.redis,
          [this.keys.evacuationExpiry(), this.keys.openEvacuations(), record!, ...rest],
          [evacuation.request.id, ms],
        );
      }
    }
  }

  /** Every evacuation still kept (open, or ended within its retention), newest first. */
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
