-- Sets one htable item, keeping Kamailio's type: the hash holds exactly one field, `i` or `s`.
--
-- KEYS[1]  the item: <prefix>:{ht:<table>}:<key>
-- ARGV[1]  type: 'i' (integer) or 's' (string)
-- ARGV[2]  value
-- ARGV[3]  explicit expire in seconds, 0 = none
-- ARGV[4]  the table's autoexpire in seconds, 0 = none
-- ARGV[5]  updateexpire: '1' or '0'
-- ARGV[6]  'nx' to write only when the item does not exist (initial values), else 'set'
-- returns  {1, pttl} written, {0, pttl} left alone (nx and present),
--          {ERR_WRONG_TYPE} the key is not a hash, {ERR_BAD_ARGUMENT} bad type or expire
-- @include reply
-- @include ht-expire

local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
local vtype = ARGV[1]
if vtype ~= 'i' and vtype ~= 's' then return {ERR_BAD_ARGUMENT} end
local explicit = tonumber(ARGV[3])
local autoexpire = tonumber(ARGV[4])
if explicit == nil or autoexpire == nil then return {ERR_BAD_ARGUMENT} end
local existed = kind == 'hash'
if existed and ARGV[6] == 'nx' then return {0, redis.call('PTTL', key)} end

redis.call('HDEL', key, vtype == 'i' and 's' or 'i')
redis.call('HSET', key, vtype, ARGV[2])
return {1, ht_apply_expire(key, explicit, autoexpire, ARGV[5], existed)}
