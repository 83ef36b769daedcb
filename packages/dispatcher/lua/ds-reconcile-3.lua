-- Heals a set's call-load counters (Kamailio's ds_hash_check_interval timer): drops every expired
-- slot, drops calls that lost their expiry entry (hand edits), then rebuilds the load hash from
-- the live slots. One atomic step, so any number of edges may run it at once. O(live calls).
--
-- KEYS[1]  load hash    <prefix>:{ds:<setid>}:load
-- KEYS[2]  calls hash   <prefix>:{ds:<setid>}:calls
-- KEYS[3]  expiry zset  <prefix>:{ds:<setid>}:expiry
-- returns  {1, expired slots dropped, live slots, load keys corrected}
-- @include reply
-- @include ds-calls

local purged = ds_purge_expired(KEYS[1], KEYS[2], KEYS[3], ds_now_ms(), 0)
local counts = {}
local live = 0
local calls = redis.call('HGETALL', KEYS[2])
for i = 1, #calls, 2 do
  local _, key = ds_parse_call(calls[i + 1])
  if key == nil or not redis.call('ZSCORE', KEYS[3], calls[i]) then
    redis.call('HDEL', KEYS[2], calls[i])
    purged = purged + 1
  else
    counts[key] = (counts[key] or 0) + 1
    live = live + 1
  end
end
local corrected = 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) ~= counts[flat[i]] then corrected = corrected + 1 end
  if counts[flat[i]] == nil then redis.call('HDEL', KEYS[1], flat[i]) end
end
for key, n in pairs(counts) do
  if redis.call('HGET', KEYS[1], key) ~= tostring(n) then
    if redis.call('HEXISTS', KEYS[1], key) == 0 then corrected = corrected + 1 end
    redis.call('HSET', KEYS[1], key, n)
  end
end
return {1, purged, live, corrected}
