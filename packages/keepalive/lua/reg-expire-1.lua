-- Takes the expired registrations of a register-mode dispatcher set out of its zset, atomically,
-- so a REGISTER refresh that lands at the same moment is either seen as expired-and-renewed (it
-- is added again after this) or not expired at all, never lost.
--
-- KEYS[1]  the set's registrations zset  <prefix>:{ds:<setid>}:reg  (URI scored by expiry, ms)
-- ARGV[1]  now, ms
-- ARGV[2]  at most this many per call
-- returns  {0, uri1, uri2, ...} the URIs whose registration expired, {ERR_WRONG_TYPE}, {ERR_BAD_ARGUMENT}
-- @include reply

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'zset' then return {ERR_WRONG_TYPE} end
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if now == nil or limit == nil or limit < 1 then return {ERR_BAD_ARGUMENT} end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
if #expired > 0 then redis.call('ZREM', KEYS[1], unpack(expired)) end
local out = {0}
for _, uri in ipairs(expired) do out[#out + 1] = uri end
return out
