-- Deletes a key only while it still holds the expected value (release an owner key, a lock or a
-- call-load slot exactly once, even when two edges race).
--
-- KEYS[1]  the string key
-- ARGV[1]  the value it must hold
-- returns  {1} deleted, {0} it held something else or nothing,
--          {ERR_WRONG_TYPE} the key is not a string
-- @include reply

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return {0} end
if kind ~= 'string' then return {ERR_WRONG_TYPE} end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
redis.call('DEL', KEYS[1])
return {1}
