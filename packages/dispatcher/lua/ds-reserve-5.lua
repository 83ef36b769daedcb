-- Call load (algorithm 10, Kamailio ds_load_add): picks the least-loaded active destination under
-- its maxload and takes a slot for the Call-ID, all in one step, so edges racing for the last
-- free slot of a destination can never overbook it. Ties go to the earlier destination in set
-- order (priority descending, then reverse file order, as model.ts buildSet). Expired slots of the
-- set are dropped first (at most ARGV[3]), so the counters heal even between reconcile runs.
--
-- KEYS[1]  destinations hash  <prefix>:{ds:<setid>}:dst
-- KEYS[2]  state hash         <prefix>:{ds:<setid>}:state
-- KEYS[3]  load hash          <prefix>:{ds:<setid>}:load
-- KEYS[4]  calls hash         <prefix>:{ds:<setid>}:calls
-- KEYS[5]  expiry zset        <prefix>:{ds:<setid>}:expiry
-- ARGV[1]  Call-ID
-- ARGV[2]  initial expiry in ms (ds_hash_initexpire)
-- ARGV[3]  most expired slots to drop first (0 = none)
-- ARGV[4]  lower-cased URIs to leave out, space-separated ('' = none)
-- ARGV[5]  '1' to move a slot the Call-ID already holds (failover, ds_load_replace), else '0':
--          then a Call-ID that holds a slot (a retransmitted INVITE) gets the same one back
-- ARGV[6]  owner: the reserving edge's membership instance, '-' for none
-- ARGV[7]  token naming this reserve (what a release for a lost reply names)
-- returns  {1, uri, loadkey, loads...} reserved, {2, uri, loadkey, loads...} already held,
--          {10} every active destination is at maxload, {11} none is active, {12} no such set,
--          {ERR_BAD_ARGUMENT}; loads is the flat load hash after the step
-- @include reply
-- @include ds-calls

local callid = ARGV[1]
local initms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local owner = ARGV[6] or '-'
local token = ARGV[7] or '-'
if callid == '' or initms == nil or initms <= 0 or limit == nil then return {ERR_BAD_ARGUMENT} end
if not string.match(owner, '^%S+$') or not string.match(token, '^%S+$') then
  return {ERR_BAD_ARGUMENT}
end
local now = ds_now_ms()
ds_purge_expired(KEYS[3], KEYS[4], KEYS[5], now, limit)

local held = redis.call('HGET', KEYS[4], callid)
if held then
  if ARGV[5] ~= '1' then
    local _, key, uri = ds_parse_call(held)
    if key then
      local reply = {2, uri, key}
      for _, v in ipairs(ds_loads(KEYS[3])) do table.insert(reply, v) end
      return reply
    end
  end
  ds_drop_call(KEYS[3], KEYS[4], KEYS[5], callid)
end

local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {12} end
local excluded = {}
for uri in string.gmatch(ARGV[4], '%S+') do excluded[uri] = true end
local dsts = {}
for i = 1, #fields, 2 do
  local ok, d = pcall(cjson.decode, fields[i + 1])
  if ok and type(d) == 'table' then
    local duid = d.duid
    if type(duid) ~= 'string' or duid == '' or string.find(duid, '%s') then duid = nil end
    table.insert(dsts, {
      uri = fields[i],
      p = tonumber(d.p) or 0,
      o = tonumber(d.o) or 0,
      f = tonumber(d.f) or 0,
      key = duid or fields[i],
      maxload = tonumber(d.maxload) or 0,
    })
  end
end
table.sort(dsts, function(a, b)
  if a.p ~= b.p then return a.p > b.p end
  return a.o > b.o
end)

local loads = {}
local flat = ds_loads(KEYS[3])
for i = 1, #flat, 2 do loads[flat[i]] = tonumber(flat[i + 1]) or 0 end

local best, bestLoad, anyActive = nil, nil, false
for _, d in ipairs(dsts) do
  local state = redis.call('HGET', KEYS[2], d.uri)
  local flags = d.f
  if state then flags = tonumber(string.match(state, '^(%d+)')) or flags end
  -- Active = neither inactive (1) nor disabled (4): Kamailio's ds_skip_dst.
  if bit.band(flags, 5) == 0 and not excluded[d.uri] then
    anyActive = true
    local load = loads[d.key] or 0
    if (d.maxload == 0 or load < d.maxload) and (bestLoad == nil or load < bestLoad) then
      best, bestLoad = d, load
    end
  end
end
if best == nil then
  if anyActive then return {10} end
  return {11}
end

redis.call('HINCRBY', KEYS[3], best.key, 1)
redis.call('HSET', KEYS[4], callid, 'i ' .. best.key .. ' ' .. best.uri .. ' ' .. owner .. ' ' .. token)
redis.call('ZADD', KEYS[5], now + initms, callid)
local reply = {1, best.uri, best.key}
for _, v in ipairs(ds_loads(KEYS[3])) do table.insert(reply, v) end
return reply
