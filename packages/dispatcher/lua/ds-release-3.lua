-- Call over (3xx-6xx, BYE, CANCEL; Kamailio ds_load_unset): frees the Call-ID's slot exactly once.
-- Retransmissions, a BYE from each side or a CANCEL racing a final reply find no slot and change
-- nothing.
--
-- KEYS[1]  load hash    <prefix>:{ds:<setid>}:load
-- KEYS[2]  calls hash   <prefix>:{ds:<setid>}:calls
-- KEYS[3]  expiry zset  <prefix>:{ds:<setid>}:expiry
-- ARGV[1]  Call-ID
-- returns  {1} released, {0} there was no slot
-- @include reply
-- @include ds-calls

if ds_drop_call(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) then return {1} end
return {0}
