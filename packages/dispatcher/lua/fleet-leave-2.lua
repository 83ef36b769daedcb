-- A member stopping: its record goes at once and its index entry is marked expired, so the next
-- heartbeat of any edge reclaims the unanswered slots it still held (the calls it was relaying
-- end with it) and forgets it.
--
-- KEYS[1]  members zset   <prefix>:{fleet}:members
-- KEYS[2]  member record  <prefix>:{fleet}:member:<instance>
-- ARGV[1]  instance
-- returns  {1}
-- @include reply

if redis.call('ZSCORE', KEYS[1], ARGV[1]) then redis.call('ZADD', KEYS[1], 0, ARGV[1]) end
redis.call('DEL', KEYS[2])
return {1}
