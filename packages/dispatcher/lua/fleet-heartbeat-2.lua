-- One edge's membership heartbeat: writes its record with a TTL and its entry in the members
-- index (scored by when it expires, on the server's clock), and returns the members whose
-- heartbeat stopped, so the caller can reclaim what they held and then forget them.
--
-- KEYS[1]  members zset    <prefix>:{fleet}:members  (instance -> expiry time in ms)
-- KEYS[2]  member record   <prefix>:{fleet}:member:<instance>  (JSON)
-- ARGV[1]  instance
-- ARGV[2]  record JSON
-- ARGV[3]  TTL in ms
-- returns  {1, dead instances...}, {ERR_BAD_ARGUMENT}, {ERR_WRONG_TYPE}
-- @include reply

local ttl = tonumber(ARGV[3])
if ARGV[1] == '' or ttl == nil or ttl <= 0 then return {ERR_BAD_ARGUMENT} end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'zset' then return {ERR_WRONG_TYPE} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
local reply = {1}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 16)) do
  table.insert(reply, id)
end
return reply
