-- Updates the fleet's list of sets, bumps the list version and tells every edge, in one step, so
-- the version an edge reads and the reload event it receives always agree.
--
-- KEYS[1]  the dispatcher index hash  <prefix>:{ds}:index  (fields: version, sets)
-- ARGV[1]  'replace' (ARGV[3] = every set id, space-separated), 'add' or 'remove' (ARGV[3] = one
--          set id), or 'touch' (version only)
-- ARGV[2]  the event bus channel to publish {"type":"reload","version":n} on
-- ARGV[3]  set id(s)
-- returns  {1, version}, {ERR_WRONG_TYPE}, {ERR_BAD_ARGUMENT} for another mode
-- @include reply

local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
local mode = ARGV[1]
local current = redis.call('HGET', KEYS[1], 'sets') or ''
local sets = {}
for id in string.gmatch(current, '%S+') do sets[id] = true end
if mode == 'replace' then
  sets = {}
  for id in string.gmatch(ARGV[3] or '', '%S+') do sets[id] = true end
elseif mode == 'add' then
  sets[ARGV[3]] = true
elseif mode == 'remove' then
  sets[ARGV[3]] = nil
elseif mode ~= 'touch' then
  return {ERR_BAD_ARGUMENT}
end
local ids = {}
for id in pairs(sets) do table.insert(ids, tonumber(id)) end
table.sort(ids)
redis.call('HSET', KEYS[1], 'sets', table.concat(ids, ' '))
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[2], '{"type":"reload","version":' .. version .. '}')
return {1, version}
