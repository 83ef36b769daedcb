-- Call answered (2xx, Kamailio ds_load_update): the Call-ID's slot becomes confirmed and lives
-- for the confirmed expiry from now. Retransmitted 2xx just refresh it; a Call-ID without a slot
-- (released already, or never reserved) is left alone, so a late 2xx never resurrects a call.
--
-- KEYS[1]  calls hash   <prefix>:{ds:<setid>}:calls
-- KEYS[2]  expiry zset  <prefix>:{ds:<setid>}:expiry
-- ARGV[1]  Call-ID
-- ARGV[2]  confirmed expiry in ms (ds_hash_expire)
-- returns  {1} confirmed, {0} no slot, {ERR_BAD_ARGUMENT}
-- @include reply
-- @include ds-calls

local ms = tonumber(ARGV[2])
if ms == nil or ms <= 0 then return {ERR_BAD_ARGUMENT} end
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return {0} end
local _, key, uri = ds_parse_call(value)
if not key then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], 'c ' .. key .. ' ' .. uri)
redis.call('ZADD', KEYS[2], ds_now_ms() + ms, ARGV[1])
return {1}
