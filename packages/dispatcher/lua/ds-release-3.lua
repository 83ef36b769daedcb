-- Call over (3xx-6xx, BYE, CANCEL; Kamailio ds_load_unset): frees the Call-ID's slot exactly once.
-- Retransmissions, a BYE from each side or a CANCEL racing a final reply find no slot and change
-- nothing.
--
-- KEYS[1]  load hash    <prefix>:{ds:<setid>}:load
-- KEYS[2]  calls hash   <prefix>:{ds:<setid>}:calls
-- KEYS[3]  expiry zset  <prefix>:{ds:<setid>}:expiry
-- ARGV[1]  Call-ID
-- ARGV[2]  reserve token, or '' (any slot): with a token only the slot that reserve took goes
--          (a later INVITE with the same Call-ID keeps its own)
-- returns  {1} released, {0} there was no slot (or another reserve's)
-- @include reply
-- @include ds-calls

local token = ARGV[2] or ''
if token ~= '' then
  local value = redis.call('HGET', KEYS[2], ARGV[1])
  if not value then return {0} end
  local _, _, _, _, held = ds_parse_call(value)
  if held ~= token then return {0} end
end
if ds_drop_call(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) then return {1} end
return {0}
