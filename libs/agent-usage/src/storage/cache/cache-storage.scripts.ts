/**
 * Lua scripts of the Redis driver. A script runs atomically in Redis, so "store these records only if none
 * of their ids is stored yet, then count them" (and "delete them only if they are all still there, then
 * uncount them") cannot interleave with another instance doing the same: several app instances may write
 * and clear at once, and a crash cannot fall between storing and counting.
 *
 * All string work happens in TypeScript (cache-storage.plan.ts): key names, hash fields, index members and
 * the counters already summed per (hash, field) over the chunk. The script receives them as four binary
 * blobs read with Redis's `struct` library (one C call per item instead of one Lua string argument per
 * item), checks the ids, then issues one command per key. One call holds the records of one day: every key
 * it touches is under that day's hash tag (one slot), and KEYS[1] (the day's record hash) lets ioredis
 * Cluster route it; the other keys, passed whole in the blobs, hash to the same slot.
 */
import { COUNTER_CODES, PACKED_BYTES, SPILL_SEPARATOR } from './cache-storage.keys';

const NC = COUNTER_CODES.length;
const vars = (name: string) => Array.from({ length: NC }, (_, i) => `${name}${i + 1}`);
const a = vars('a');
const b = vars('b');
const s = vars('s');

/**
 * KEYS[1]: the day's record hash. ARGV: [1] sign (1 = write, -1 = clear), [2] expiry of every key written
 * (ms since the epoch, '' = none), [3] the day's index, then the blobs RB (records), XB (index members),
 * BB (buckets), IB (identities). A string in a blob is a 4-byte length and the bytes; numbers are big-endian.
 * - RB: record count (u32), then per record: id, JSON.
 * - XB: member count (u32), then the members.
 * - BB, per hash: key, field count (u32); per field: name, packed deltas (PACKED_BYTES).
 * - IB, per hash: key, field count; per field: name, signed 64-bit count delta.
 * Items are read with one struct.unpack call per hash (up to CH items), straight into the table that feeds
 * the command. Returns the number of records stored (deleted), or, when some ids are already stored (for
 * a clear: gone or different), their 1-based positions in RB, having changed nothing.
 */
export const WRITE_SCRIPT = `
local SIGN = tonumber(ARGV[1])
local EXP, IDX = ARGV[2], ARGV[3]
local RB, XB, BB, IB = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local REC = KEYS[1]
local call, sunpack, spack, unpack, min = redis.call, struct.unpack, struct.pack, unpack, math.min
-- Lua's C stack bounds unpack() and struct.unpack(): at most CH items (2 * CH values) at a time.
local CH = 1000
local L = 9007199254740992
local PACKED = '>${'i8'.repeat(NC)}'
local WIDTH = ${PACKED_BYTES}
local CODES = { ${COUNTER_CODES.map((c) => `'${c}'`).join(', ')} }
local SPILL = '${SPILL_SEPARATOR}'

-- item formats: unit = { struct format of one item, values per item, [k] = format of k items }
local RECORD = { 'I4c0I4c0', 2 }
local BUCKET = { 'I4c0c' .. WIDTH, 2 }
local IDENTITY = { 'I4c0i8', 2 }
local MEMBER = { 'I4c0', 1 }

-- m items of one unit from blob at pos, as one flat table; returns it and the next position
local function items(blob, pos, unit, m)
  local w = unit[2]
  local t, q = {}, 0
  local i = 1
  while i <= m do
    local k = min(CH, m - i + 1)
    local f = unit[k + 2]
    if not f then
      f = '>' .. string.rep(unit[1], k)
      unit[k + 2] = f
    end
    if k == m then
      t = { sunpack(f, blob, pos) }
      pos = t[w * k + 1]
      t[w * k + 1] = nil
    else
      local part = { sunpack(f, blob, pos) }
      pos = part[w * k + 1]
      for j = 1, w * k do t[q + j] = part[j] end
    end
    q = q + w * k
    i = i + k
  end
  return t, pos
end

-- cmd key t[1..q], at most CH * step arguments at a time
local function chunked(cmd, key, t, q, step)
  if q <= CH * step then return call(cmd, key, unpack(t, 1, q)) end
  for i = 1, q, CH * step do
    call(cmd, key, unpack(t, i, min(i + CH * step - 1, q)))
  end
end

local function hmget(key, f, m)
  if m <= CH then return call('HMGET', key, unpack(f, 1, m)) end
  local out = {}
  for i = 1, m, CH do
    local part = call('HMGET', key, unpack(f, i, min(i + CH - 1, m)))
    for j = 1, #part do out[i + j - 1] = part[j] end
  end
  return out
end

-- drops the pairs whose name was set to false
local function compact(t, q)
  local out, k = {}, 0
  for i = 1, q, 2 do
    if t[i] then
      out[k + 1] = t[i]
      out[k + 2] = t[i + 1]
      k = k + 2
    end
  end
  return out, k
end

local function expire(key)
  if SIGN > 0 and EXP ~= '' then call('PEXPIREAT', key, EXP) end
end

-- records: the precondition (one HMGET of every id), checked before anything is written
local n = sunpack('>I4', RB, 1)
if n == 0 then return 0 end
local rec = items(RB, 5, RECORD, n)
local ids = {}
for i = 1, n do ids[i] = rec[2 * i - 1] end
local got = hmget(REC, ids, n)
local bad = {}
for i = 1, n do
  if SIGN > 0 then
    if got[i] then bad[#bad + 1] = i end
  elseif got[i] ~= rec[2 * i] then
    bad[#bad + 1] = i
  end
end
if #bad > 0 then return bad end
if SIGN > 0 then
  chunked('HSET', REC, rec, 2 * n, 2)
  expire(REC)
else
  chunked('HDEL', REC, ids, n, 1)
end

-- indexes: one ZADD (ZREM) of every member into the day's index
local nm = sunpack('>I4', XB, 1)
local mem = items(XB, 5, MEMBER, nm)
if SIGN > 0 then
  -- the score as a string: Redis would format a Lua number into one per argument
  local t, zero = {}, '0'
  for j = 1, nm do
    t[2 * j - 1] = zero
    t[2 * j] = mem[j]
  end
  chunked('ZADD', IDX, t, 2 * nm, 2)
  expire(IDX)
else
  chunked('ZREM', IDX, mem, nm, 1)
end

-- a counter about to reach 2^53 moves, exactly, to its own integer field
local function spill(key, field, cur, d)
  local av = { sunpack(PACKED, cur) }
  local bv = { sunpack(PACKED, d) }
  for t = 1, ${NC} do
    local v = av[t] + bv[t]
    if v >= L or v <= -L then
      local f = field .. SPILL .. CODES[t]
      if av[t] ~= 0 then call('HINCRBY', key, f, string.format('%d', av[t])) end
      call('HINCRBY', key, f, string.format('%d', bv[t]))
      v = 0
    end
    av[t] = v
  end
  return av
end

-- buckets: one HMGET and one HSET per hash; fields new to the hash are stored as sent
local F = {}
local BUCKET1 = '>I4c0c' .. WIDTH
local pos, len = 1, #BB
while pos <= len do
  local key, m, t, cur
  key, m, pos = sunpack('>I4c0I4', BB, pos)
  if m == 1 then
    -- most hashes of a chunk (one per scope value) get one field
    local f, d
    f, d, pos = sunpack(BUCKET1, BB, pos)
    t = { f, d }
    F[1] = f
    cur = { call('HGET', key, f) }
  else
    t, pos = items(BB, pos, BUCKET, m)
    for j = 1, m do F[j] = t[2 * j - 1] end
    cur = hmget(key, F, m)
  end
  local q, drop, del, r = 2 * m, false, nil, 0
  for j = 1, m do
    local c = cur[j]
    if c then
      local d = t[2 * j]
      local ${a.join(', ')} = sunpack(PACKED, c)
      local ${b.join(', ')} = sunpack(PACKED, d)
      local ${s.join(', ')} = ${a.map((x, i) => `${x} + ${b[i]}`).join(', ')}
      if ${s.map((x) => `${x} >= L or ${x} <= -L`).join(' or ')} then
        ${s.join(', ')} = unpack(spill(key, F[j], c, d))
      end
      if SIGN < 0 and s1 <= 0 then
        -- the value has no record left on that day: drop it (and any spill field) so no empty group shows
        del = del or {}
        del[r + 1] = F[j]
        r = r + 1
        for k = 1, ${NC} do del[r + k] = F[j] .. SPILL .. CODES[k] end
        r = r + ${NC}
        t[2 * j - 1] = false
        drop = true
      else
        t[2 * j] = spack(PACKED, ${s.join(', ')})
      end
    elseif SIGN < 0 then
      t[2 * j - 1] = false -- nothing counted there: nothing to uncount
      drop = true
    end
  end
  if drop then t, q = compact(t, q) end
  if q > 0 then chunked('HSET', key, t, q, 2) end
  if r > 0 then chunked('HDEL', key, del, r, 1) end
  expire(key)
end

-- identities: record count per identity and day
pos, len = 1, #IB
while pos <= len do
  local key, m, t
  key, m, pos = sunpack('>I4c0I4', IB, pos)
  t, pos = items(IB, pos, IDENTITY, m)
  for j = 1, m do F[j] = t[2 * j - 1] end
  local cur = hmget(key, F, m)
  local drop, del, r = false, nil, 0
  for j = 1, m do
    local v = (tonumber(cur[j]) or 0) + t[2 * j]
    if v > 0 then
      t[2 * j] = string.format('%d', v)
    else
      if cur[j] then
        del = del or {}
        del[r + 1] = F[j]
        r = r + 1
      end
      t[2 * j - 1] = false
      drop = true
    end
  end
  local q = 2 * m
  if drop then t, q = compact(t, q) end
  if q > 0 then chunked('HSET', key, t, q, 2) end
  if r > 0 then chunked('HDEL', key, del, r, 1) end
  expire(key)
end

return n
`;

/**
 * KEYS[1] = a day's index, KEYS[2] = its record hash (same tag); ARGV = pairs of member, id. Drops the
 * members whose record is gone (cleared by another instance while a read walked the index).
 */
export const PRUNE_SCRIPT = `
local removed = 0
-- HMGET at most 1000 ids at a time (unpack() is bounded by Lua's C stack)
for i = 2, #ARGV, 2000 do
  local ids = {}
  for k = i, math.min(i + 1998, #ARGV), 2 do ids[#ids + 1] = ARGV[k] end
  local got = redis.call('HMGET', KEYS[2], unpack(ids))
  for j = 1, #ids do
    if not got[j] then removed = removed + redis.call('ZREM', KEYS[1], ARGV[i + 2 * j - 3]) end
  end
end
return removed
`;
