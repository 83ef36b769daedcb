-- Adds to an integer htable item atomically ($shtinc / $shtdec). A missing item starts from the
-- table's initval (0 when it has none).
--
-- KEYS[1]  the item: <prefix>:{ht:<table>}:<key>
-- ARGV[1]  the signed amount to add
-- ARGV[2]  the table's autoexpire in seconds, 0 = none
-- ARGV[3]  updateexpire: '1' or '0'
-- ARGV[4]  the start value for a missing item
-- returns  {0, newValue, pttl},
--          {ERR_WRONG_TYPE} the key is not a hash or holds a string item,
--          {ERR_BAD_ARGUMENT} an ARGV is not an integer,
--          {ERR_LIMIT} the result would leave the 64-bit range
-- @include reply
-- @include ht-expire

local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
local existed = kind == 'hash'
if existed then
  local current = redis.call('HGET', key, 'i')
  if not current or not string.match(current, '^%-?%d+$') then return {ERR_WRONG_TYPE} end
end
local integer = '^%-?%d+$'
if not string.match(ARGV[1], integer) or not string.match(ARGV[2], integer)
    or not string.match(ARGV[4], integer) then
  return {ERR_BAD_ARGUMENT}
end
local autoexpire = tonumber(ARGV[2])
if not existed then redis.call('HSET', key, 'i', ARGV[4]) end
local ok, value = pcall(redis.call, 'HINCRBY', key, 'i', ARGV[1])
if not ok then return {ERR_LIMIT} end
return {0, value, ht_apply_expire(key, 0, autoexpire, ARGV[3], existed)}
