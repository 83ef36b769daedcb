-- Call-load helpers shared by the ds-* scripts. One set's call slots live in two keys of the set's
-- hash-tag slot: the calls hash (Call-ID -> "<state> <loadkey> <uri>[ <owner> <token>]", state i =
-- initial, c = confirmed) and the expiry zset (Call-ID scored by its expiry in ms). The load hash
-- counts the live slots per load key (duid, or the lower-cased URI when there is none). Only an
-- initial slot carries an owner (the reserving edge's membership instance, '-' when it has none:
-- its slots are reclaimed when that edge's heartbeat stops) and a token (the reserve that took
-- it: a release for a reserve whose reply was lost drops that slot and no other).

-- Server time in ms, so every edge expires slots on one clock (effects replication makes TIME safe).
local function ds_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- state, load key, URI, owner, token (owner and token nil on a confirmed or older slot).
local function ds_parse_call(value)
  local state, key, uri, rest = string.match(value, '^(%S+) (%S+) (%S+)(.*)$')
  if not state then return nil end
  local owner, token = string.match(rest, '^ (%S+) (%S+)$')
  return state, key, uri, owner, token
end

-- One call less on a load key; the field disappears at 0 so the hash never holds negatives.
local function ds_unload(load, key)
  if redis.call('HINCRBY', load, key, -1) <= 0 then redis.call('HDEL', load, key) end
end

-- Drops one call slot and its load; false when the Call-ID holds none (released already).
local function ds_drop_call(load, calls, expiry, callid)
  redis.call('ZREM', expiry, callid)
  local value = redis.call('HGET', calls, callid)
  if not value then return false end
  redis.call('HDEL', calls, callid)
  local _, key = ds_parse_call(value)
  if key then ds_unload(load, key) end
  return true
end

-- Drops slots whose expiry is at or before now (at most `limit`, 0 = all); returns how many.
local function ds_purge_expired(load, calls, expiry, now, limit)
  local ids
  if limit > 0 then
    ids = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, limit)
  else
    ids = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  end
  for _, id in ipairs(ids) do ds_drop_call(load, calls, expiry, id) end
  return #ids
end

-- The load hash as a flat {key, count, ...} reply.
local function ds_loads(load)
  return redis.call('HGETALL', load)
end
