-- Removes one destination from a set (its state too); its live calls keep their slots until
-- released or expired.
--
-- KEYS[1]  the set's destinations hash  <prefix>:{ds:<setid>}:dst
-- KEYS[2]  the set's state hash         <prefix>:{ds:<setid>}:state
-- ARGV[1]  lower-cased URI
-- returns  {removed (1 or 0), destinations left in the set}
-- @include reply

local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return {removed, redis.call('HLEN', KEYS[1])}
