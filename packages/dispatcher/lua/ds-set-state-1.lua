-- Compare-and-set of one destination's state, publishing its transition event in the same step:
-- the caller computed the next state from `expected` with the pure state machine (state.ts), and
-- only one of several racing probers/edges can win a given `expected`, so each transition is
-- stored and published exactly once. A loser gets the current value and recomputes.
--
-- KEYS[1]  the set's state hash  <prefix>:{ds:<setid>}:state
-- ARGV[1]  lower-cased URI
-- ARGV[2]  expected state "<flags> <count>"
-- ARGV[3]  next state "<flags> <count>"
-- ARGV[4]  the event bus channel
-- ARGV[5]  event JSON to publish, '' when the flags do not change
-- returns  {1} stored, {0, current} someone else changed it first, {ERR_NOT_FOUND} no such
--          destination, {ERR_WRONG_TYPE}
-- @include reply

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return {ERR_NOT_FOUND} end
if current ~= ARGV[2] then return {0, current} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return {1}
