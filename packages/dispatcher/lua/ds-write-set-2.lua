-- Replaces one destination set (list reload): every destination and its state, reset to the
-- list's flags. Call loads and the round-robin counter are left alone (live calls keep counting).
--
-- KEYS[1]  the set's destinations hash  <prefix>:{ds:<setid>}:dst
-- KEYS[2]  the set's state hash         <prefix>:{ds:<setid>}:state
-- ARGV[1]  number of destinations n (0 deletes the set)
-- ARGV[2..] n triples: lower-cased URI, destination JSON, state "<flags> <count>"
-- returns  {1, n}, {ERR_BAD_ARGUMENT} when n does not match the triples
-- @include reply

local n = tonumber(ARGV[1])
if n == nil or #ARGV ~= 1 + 3 * n then return {ERR_BAD_ARGUMENT} end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 0, n - 1 do
  local base = 2 + 3 * i
  redis.call('HSET', KEYS[1], ARGV[base], ARGV[base + 1])
  redis.call('HSET', KEYS[2], ARGV[base], ARGV[base + 2])
end
return {1, n}
