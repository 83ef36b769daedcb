-- Drops the initial (unanswered) slots an edge reserved, once its membership heartbeat stopped:
-- a killed edge's ringing calls cannot be confirmed or released by anyone else. Confirmed slots
-- stay (their BYE may arrive on any edge, or they expire). Idempotent, so every edge that sees the
-- dead member may run it. O(calls of the set); run once per dead member, never per call.
--
-- KEYS[1]  load hash    <prefix>:{ds:<setid>}:load
-- KEYS[2]  calls hash   <prefix>:{ds:<setid>}:calls
-- KEYS[3]  expiry zset  <prefix>:{ds:<setid>}:expiry
-- ARGV[1]  the dead member's instance (the owner its slots carry)
-- returns  {1, slots dropped}, {ERR_BAD_ARGUMENT}
-- @include reply
-- @include ds-calls

local owner = ARGV[1] or ''
if owner == '' or owner == '-' then return {ERR_BAD_ARGUMENT} end
local dropped = 0
local calls = redis.call('HGETALL', KEYS[2])
for i = 1, #calls, 2 do
  local state, _, _, held = ds_parse_call(calls[i + 1])
  if state == 'i' and held == owner then
    ds_drop_call(KEYS[1], KEYS[2], KEYS[3], calls[i])
    dropped = dropped + 1
  end
end
return {1, dropped}
