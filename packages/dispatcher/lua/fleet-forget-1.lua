-- Forgets a dead member once its slots were reclaimed, unless its heartbeat came back meanwhile
-- (an edge cut off from Redis for longer than the TTL that reconnects): only an entry still
-- expired is removed.
--
-- KEYS[1]  members zset  <prefix>:{fleet}:members
-- ARGV[1]  instance
-- returns  {1} forgotten, {0} alive again or already gone
-- @include reply

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return {0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(score) >= now then return {0} end
redis.call('ZREM', KEYS[1], ARGV[1])
return {1}
