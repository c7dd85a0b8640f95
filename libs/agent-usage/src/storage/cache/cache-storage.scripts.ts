/**
 * Lua scripts of the Redis driver. A script runs atomically in Redis, so "store the record only if its id
 * is new, then count it" (and "delete it only if it is still there, then uncount it") cannot interleave
 * with another instance doing the same: several app instances may write and clear at once.
 * Key names follow cache-storage.keys.ts. Keys are built inside the scripts from ARGV (standalone Redis
 * and Sentinel; not Redis Cluster).
 */
import { ATTRIBUTION_FIELDS } from '../../interfaces/usage-record.interface';
import { COUNTER_CODES, INDEXED_DIMENSIONS, NULL_VALUE, SCOPE_DIMENSIONS, SCOPED_BREAKDOWNS } from './cache-storage.keys';

/** ARGV before the records: prefix, index trim score, day trim, now (ms). */
export const SCRIPT_HEADER_ARGS = 4;
/**
 * ARGV per record: id, json, score, day, hour (encoded), expireAt ms ('' = none), the 6 encoded attribution
 * values (ATTRIBUTION_FIELDS order), identity JSON, then the counters after `n` (COUNTERS order, 11 values).
 */
export const SCRIPT_RECORD_ARGS = 13 + (COUNTER_CODES.length - 1);

const luaList = (items: readonly (string | number)[]) =>
  `{${items.map((s) => (typeof s === 'number' ? String(s) : `'${s}'`)).join(', ')}}`;

/**
 * Shared body; SIGN = 1 stores and counts, SIGN = -1 deletes and uncounts. Phase 1 decides per record
 * (SET NX / compare-and-DEL); phase 2 sums the counters of the records that passed in Lua tables and
 * issues one HINCRBY per (hash, field), one ZADD/ZREM per index: records of a chunk share most buckets.
 * The caller keeps every per-chunk sum below 2^53, so Lua's doubles add them exactly.
 */
function body(sign: 1 | -1): string {
  return `
local P, cutScore, cutDay, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local SIGN = ${sign}
local DIMS = ${luaList(ATTRIBUTION_FIELDS)}
local INDEXED = ${luaList(INDEXED_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d) + 1))}
local SCOPES = ${luaList(SCOPE_DIMENSIONS.map((d) => ATTRIBUTION_FIELDS.indexOf(d) + 1))}
local BREAKDOWNS = ${luaList(SCOPED_BREAKDOWNS.map((d) => ATTRIBUTION_FIELDS.indexOf(d) + 1))}
local CODES = ${luaList(COUNTER_CODES)}
local NC = ${COUNTER_CODES.length}
local W = ${SCRIPT_RECORD_ARGS}
local H = ${SCRIPT_HEADER_ARGS}
local NULL = '${NULL_VALUE}'

local sums = {}      -- hash key -> field prefix -> counters
local expiry = {}    -- hash key -> expireAt ms ('' = none)
local idents = {}    -- identity hash key -> identity json -> records
local members = {}   -- index key -> flat list of score, id (ZADD) or ids (ZREM)
local indexExpiry = {}
local days = {}
local done = 0

local function bucket(key, pre, cnt, exp)
  local byPre = sums[key]
  if not byPre then
    byPre = {}
    sums[key] = byPre
    expiry[key] = exp
  end
  local c = byPre[pre]
  if not c then
    c = {}
    for j = 1, NC do c[j] = 0 end
    byPre[pre] = c
  end
  for j = 1, NC do c[j] = c[j] + cnt[j] end
end

local function index(key, score, id, exp)
  local m = members[key]
  if not m then
    m = {}
    members[key] = m
  end
  if SIGN > 0 then
    m[#m + 1] = score
    local cur = indexExpiry[key]
    if exp ~= '' and (cur == nil or tonumber(exp) > tonumber(cur)) then indexExpiry[key] = exp end
  end
  m[#m + 1] = id
end

for i = 0, (#ARGV - H) / W - 1 do
  local b = H + i * W
  local id, json, score, day, hour, exp = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  local rk = P .. 'rec:' .. id
  local go
  if SIGN > 0 then
    go = redis.call('SET', rk, json, 'NX')
    if go and exp ~= '' then redis.call('PEXPIREAT', rk, exp) end
  else
    -- only the caller that deletes this exact record uncounts it
    go = redis.call('GET', rk) == json
    if go then redis.call('DEL', rk) end
  end
  if go then
    done = done + 1
    local cnt = { 1 }
    for j = 2, NC do cnt[j] = tonumber(ARGV[b + 12 + j]) end
    local ag = P .. 'agg:' .. day .. ':'
    bucket(ag .. 'day', '', cnt, exp)
    bucket(ag .. 'hour', hour .. '|', cnt, exp)
    for d = 1, 6 do bucket(ag .. DIMS[d], ARGV[b + 6 + d] .. '|', cnt, exp) end
    for _, s in ipairs(SCOPES) do
      local sv = ARGV[b + 6 + s]
      if sv ~= NULL then
        local sk = ag .. DIMS[s] .. '=' .. sv .. ':'
        bucket(sk .. 'hour', hour .. '|', cnt, exp)
        for _, d in ipairs(BREAKDOWNS) do
          if d ~= s then bucket(sk .. DIMS[d], ARGV[b + 6 + d] .. '|', cnt, exp) end
        end
      end
    end
    local ik = P .. 'ids:' .. day
    local byIdent = idents[ik]
    if not byIdent then
      byIdent = {}
      idents[ik] = byIdent
      expiry[ik] = exp
    end
    local ident = ARGV[b + 13]
    byIdent[ident] = (byIdent[ident] or 0) + 1
    index(P .. 'idx:all', score, id, exp)
    for _, d in ipairs(INDEXED) do
      local v = ARGV[b + 6 + d]
      if v ~= NULL then index(P .. 'idx:' .. DIMS[d] .. ':' .. v, score, id, exp) end
    end
    days[day] = true
  end
end

local function int(v) return string.format('%d', v) end

for key, byPre in pairs(sums) do
  for pre, c in pairs(byPre) do
    local n = redis.call('HINCRBY', key, pre .. 'n', int(SIGN * c[1]))
    for j = 2, NC do
      if c[j] ~= 0 then redis.call('HINCRBY', key, pre .. CODES[j], int(SIGN * c[j])) end
    end
    if SIGN < 0 and n <= 0 then
      -- the value has no record left on that day: drop its fields so no empty group is reported
      local f = {}
      for j = 1, NC do f[j] = pre .. CODES[j] end
      redis.call('HDEL', key, unpack(f))
    end
  end
  if SIGN > 0 and expiry[key] ~= '' then redis.call('PEXPIREAT', key, expiry[key]) end
end
for key, byIdent in pairs(idents) do
  for ident, k in pairs(byIdent) do
    local n = redis.call('HINCRBY', key, ident, int(SIGN * k))
    if SIGN < 0 and n <= 0 then redis.call('HDEL', key, ident) end
  end
  if SIGN > 0 and expiry[key] ~= '' then redis.call('PEXPIREAT', key, expiry[key]) end
end
for key, m in pairs(members) do
  if SIGN > 0 then redis.call('ZADD', key, unpack(m)) else redis.call('ZREM', key, unpack(m)) end
end

if SIGN > 0 then
  for day in pairs(days) do redis.call('ZADD', P .. 'days', 0, day) end
  -- retention: an index spans many days, so its TTL only ever grows; expired members are trimmed here
  for key, exp in pairs(indexExpiry) do
    if cutScore ~= '' then redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutScore) end
    local t = redis.call('PTTL', key)
    if t == -1 or (t >= 0 and now + t < tonumber(exp)) then redis.call('PEXPIREAT', key, exp) end
  end
  if cutDay ~= '' then redis.call('ZREMRANGEBYLEX', P .. 'days', '-', '(' .. cutDay) end
end
return done
`;
}

export const WRITE_SCRIPT = body(1);
export const CLEAR_SCRIPT = body(-1);

/** KEYS[1] = an index; ARGV[1] = raw record key prefix; ARGV[2..] = ids. Drops ids whose record is gone. */
export const PRUNE_SCRIPT = `
local removed = 0
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
`;
