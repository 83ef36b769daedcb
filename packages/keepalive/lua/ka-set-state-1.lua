-- Compare-and-set of one keepalive-module destination's state, publishing its transition in the
-- same step (the dispatcher's ds-set-state, plus "no state yet"): of several probers racing on
-- one destination exactly one stores a given transition, so each is published exactly once.
--
-- KEYS[1]  the keepalive state hash  <prefix>:{ka}:state  (URI -> "<flags> <count>")
-- ARGV[1]  lower-cased URI
-- ARGV[2]  expected state, '' = no state yet (unknown)
-- ARGV[3]  next state "<flags> <count>"
-- ARGV[4]  the event bus channel
-- ARGV[5]  event JSON to publish, '' when nothing observable changed
-- returns  {1} stored, {0, current or ''} someone else changed it first, {ERR_WRONG_TYPE}
-- @include reply

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {1}
