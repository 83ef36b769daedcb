-- Adds one destination to a set, or replaces the one with the same URI (keeping its file position).
-- A new one goes after every other in file order, as if appended to the list file.
--
-- KEYS[1]  the set's destinations hash  <prefix>:{ds:<setid>}:dst
-- KEYS[2]  the set's state hash         <prefix>:{ds:<setid>}:state
-- ARGV[1]  lower-cased URI
-- ARGV[2]  destination JSON (its "o", file order, is set here)
-- ARGV[3]  state "<flags> <count>"
-- returns  {1} added, {0} replaced, {ERR_WRONG_TYPE}, {ERR_BAD_ARGUMENT} (JSON not an object)
-- @include reply

for _, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
end
local ok, dst = pcall(cjson.decode, ARGV[2])
if not ok or type(dst) ~= 'table' then return {ERR_BAD_ARGUMENT} end
local order = -1
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then
  local okOld, old = pcall(cjson.decode, existing)
  if okOld and type(old) == 'table' and tonumber(old.o) then order = tonumber(old.o) end
end
local added = order < 0
if added then
  for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
    local okOther, other = pcall(cjson.decode, value)
    if okOther and type(other) == 'table' and tonumber(other.o) and tonumber(other.o) > order then
      order = tonumber(other.o)
    end
  end
  order = order + 1
end
dst.o = order
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(dst))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if added then return {1} end
return {0}
