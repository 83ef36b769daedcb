-- Call load (algorithm 10) steps of one set, applied in order in one script: the edge sends the
-- reserves, confirms and releases of an event-loop turn together (one round trip per set and turn
-- instead of one per step), and a lone step is a batch of one.
--
-- reserve (INVITE, Kamailio ds_load_add): picks the least-loaded active destination under its
--   maxload and takes a slot for the Call-ID, all in one step, so edges racing for the last free
--   slot of a destination can never overbook it. Ties go to the earlier destination in set order
--   (priority descending, then reverse file order, as model.ts buildSet). Expired slots of the set
--   are dropped first (at most ARGV[3] per reserve), so the counters heal even between reconcile
--   runs; once a reserve found fewer than that, the later ones of the script do not look again
--   (the script's clock stands still and its steps only set expiries after it). A Call-ID that
--   holds a slot (a retransmitted INVITE) gets the same one back, unless the step moves it
--   (failover, ds_load_replace).
-- confirm (2xx, ds_load_update): the Call-ID's slot becomes confirmed and lives for the confirmed
--   expiry from now. A retransmitted 2xx just refreshes it; a Call-ID without a slot (released
--   already, or never reserved) is left alone, so a late 2xx never resurrects a call.
-- assign (INVITE routed by the edge's own pick, see call-load.ts localPickHeadroom): the Call-ID's
--   slot is taken on the destination the edge already chose, without choosing; a slot it holds
--   elsewhere moves there, and one this token took already (an assign sent again after a lost
--   reply) stays as it is. A voided token takes nothing, as for reserve, and neither does an
--   assign of a Call-ID that a release found without a slot in the last ASSIGN_VOID_MS (the edge
--   sends its assign up to settleDelayMs after relaying the INVITE; a BYE through another edge
--   can come first).
-- loads: the set's load hash as the script leaves it, so the edge's view of the loads follows
--   every batch it sends.
-- release (3xx-6xx, BYE, CANCEL; ds_load_unset): frees the Call-ID's slot exactly once.
--   Retransmissions, a BYE from each side or a CANCEL racing a final reply find no slot and change
--   nothing. With a token, only the slot that reserve took goes (a later INVITE with the same
--   Call-ID keeps its own); when that reserve has taken no slot yet, its token is voided, so the
--   reserve takes none when it runs after all. (A reserve whose reply was lost can run late: the
--   client gave up on it, but the command still travels, e.g. redirected to a promoted Cluster
--   replica. Voiding makes the release win whichever arrives first.)
--
-- KEYS[1]  destinations hash  <prefix>:{ds:<setid>}:dst
-- KEYS[2]  state hash         <prefix>:{ds:<setid>}:state
-- KEYS[3]  load hash          <prefix>:{ds:<setid>}:load
-- KEYS[4]  calls hash         <prefix>:{ds:<setid>}:calls
-- KEYS[5]  expiry zset        <prefix>:{ds:<setid>}:expiry
-- KEYS[6]  void zset          <prefix>:{ds:<setid>}:void (voided reserve tokens, scored by expiry)
-- ARGV[1]  initial expiry in ms (ds_hash_initexpire)
-- ARGV[2]  confirmed expiry in ms (ds_hash_expire)
-- ARGV[3]  most expired slots a reserve drops first (0 = none: reconcile alone drops them)
-- ARGV[4]  owner: the reserving edge's membership instance, '-' for none
-- then four per step: op, Call-ID, a, b
--   'v' reserve, 'V' reserve moving a held slot: a = lower-cased URIs to leave out,
--       space-separated ('' = none); b = token naming this reserve (what a release for a lost
--       reply names)
--   'c' confirm: a and b ''
--   'r' release: a = reserve token, or '' (any slot); b ''
--   'a' assign, 'A' assign a confirmed slot (its 2xx came while the assign waited for Redis):
--       a = '<loadkey> <lower-cased uri>'; b = token naming this assign
--   'l' loads: Call-ID '-', a and b ''
-- returns  {0, r1, r2, ...}, per step:
--   reserve: {1, uri, loadkey, loads...} reserved, {2, uri, loadkey, loads...} already held,
--            {10} every active destination is at maxload, {11} none is active, {12} no such set,
--            {13} its token was voided (nothing taken), {ERR_BAD_ARGUMENT}; loads is the flat
--            load hash after the step
--   confirm, release: 1 done, 0 no slot (or another reserve's)
--   assign: 1 taken, 2 this token holds it already, 13 voided (nothing taken), ERR_BAD_ARGUMENT
--   loads: the flat load hash
--   {ERR_BAD_ARGUMENT} for the whole call when the arguments do not parse (nothing applied)
-- @include reply
-- @include ds-calls

local initms = tonumber(ARGV[1])
local confirmms = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local owner = ARGV[4] or '-'
if initms == nil or initms <= 0 or confirmms == nil or confirmms <= 0 or limit == nil
  or not string.match(owner, '^%S+$') or #ARGV % 4 ~= 0 then
  return {ERR_BAD_ARGUMENT}
end
for i = 5, #ARGV, 4 do
  local op = ARGV[i]
  if not string.match(op, '^[vVcraAl]$') or ARGV[i + 1] == '' then
    return {ERR_BAD_ARGUMENT}
  end
end
local now = ds_now_ms()

-- How long a release without a token that finds no slot keeps the Call-ID's assigns out.
local ASSIGN_VOID_MS = 10000

local function with_loads(reply)
  for _, v in ipairs(ds_loads(KEYS[3])) do table.insert(reply, v) end
  return reply
end

-- Destination states (uri -> "flags ..."), read once per script: no step changes them.
local stateOf
local function states()
  if stateOf then return stateOf end
  stateOf = {}
  local fields = redis.call('HGETALL', KEYS[2])
  for i = 1, #fields, 2 do stateOf[fields[i]] = fields[i + 1] end
  return stateOf
end

-- No expired slot is left: an earlier reserve of this script purged fewer than the limit.
local purged = false

-- The set's destinations in set order, read once per script; nil when the set does not exist.
local dsts, noSet
local function destinations()
  if dsts or noSet then return dsts end
  local fields = redis.call('HGETALL', KEYS[1])
  if #fields == 0 then
    noSet = true
    return nil
  end
  dsts = {}
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
  return dsts
end

-- What a reserve or assign does first: true when its token was voided (it takes nothing); else
-- the set's expired slots are dropped, up to the limit, unless an earlier step found none left.
local function voided_or_purge(token)
  if redis.call('ZREM', KEYS[6], token) == 1 then return true end
  if limit > 0 and not purged then
    purged = ds_purge_expired(KEYS[3], KEYS[4], KEYS[5], now, limit) < limit
  end
  return false
end

-- Takes the Call-ID's slot on `key` (an initial one carries owner and token); returns the load.
local function take(callid, key, uri, token, confirmed)
  local count = redis.call('HINCRBY', KEYS[3], key, 1)
  if confirmed then
    redis.call('HSET', KEYS[4], callid, 'c ' .. key .. ' ' .. uri)
    redis.call('ZADD', KEYS[5], now + confirmms, callid)
  else
    redis.call('HSET', KEYS[4], callid, 'i ' .. key .. ' ' .. uri .. ' ' .. owner .. ' ' .. token)
    redis.call('ZADD', KEYS[5], now + initms, callid)
  end
  return count
end

local function reserve(callid, replace, exclude, token)
  if not string.match(token, '^%S+$') then return {ERR_BAD_ARGUMENT} end
  if voided_or_purge(token) then return {13} end
  local held = redis.call('HGET', KEYS[4], callid)
  if held then
    if not replace then
      local _, key, uri = ds_parse_call(held)
      if key then return with_loads({2, uri, key}) end
    end
    ds_drop_call(KEYS[3], KEYS[4], KEYS[5], callid)
  end

  local list = destinations()
  if list == nil then return {12} end
  local excluded = {}
  for uri in string.gmatch(exclude, '%S+') do excluded[uri] = true end
  local loads = {}
  local flat = ds_loads(KEYS[3])
  for i = 1, #flat, 2 do loads[flat[i]] = tonumber(flat[i + 1]) or 0 end

  local best, bestLoad, anyActive = nil, nil, false
  local stateNow = states()
  for _, d in ipairs(list) do
    local state = stateNow[d.uri]
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

  local count = take(callid, best.key, best.uri, token, false)
  -- the loads read above, with the one that changed: no second read of the hash
  local reply = {1, best.uri, best.key, best.key, count}
  for i = 1, #flat, 2 do
    if flat[i] ~= best.key then
      reply[#reply + 1] = flat[i]
      reply[#reply + 1] = flat[i + 1]
    end
  end
  return reply
end

local function assign(callid, confirmed, target, token)
  local key, uri = string.match(target, '^(%S+) (%S+)$')
  if not key or not string.match(token, '^%S+$') then return ERR_BAD_ARGUMENT end
  local released = redis.call('ZSCORE', KEYS[6], 'c ' .. callid)
  if voided_or_purge(token) or (released and tonumber(released) > now) then return 13 end
  local held = redis.call('HGET', KEYS[4], callid)
  if held then
    if select(5, ds_parse_call(held)) == token then return 2 end
    ds_drop_call(KEYS[3], KEYS[4], KEYS[5], callid)
  end
  take(callid, key, uri, token, confirmed)
  return 1
end

local function confirm(callid)
  local value = redis.call('HGET', KEYS[4], callid)
  if not value then return 0 end
  local _, key, uri = ds_parse_call(value)
  if not key then return 0 end
  redis.call('HSET', KEYS[4], callid, 'c ' .. key .. ' ' .. uri)
  redis.call('ZADD', KEYS[5], now + confirmms, callid)
  return 1
end

-- Voids `member` (a reserve token, or 'c <Call-ID>' for assigns) for `ms`; the key goes with the
-- last entry.
local function void(member, ms)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
  redis.call('ZADD', KEYS[6], now + ms, member)
  local last = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[6], math.max(tonumber(last[2]), now + ms))
end

local function release(callid, token)
  if token ~= '' then
    local value = redis.call('HGET', KEYS[4], callid)
    local held
    if value then held = select(5, ds_parse_call(value)) end
    if held ~= token then
      void(token, initms)
      return 0
    end
  end
  if ds_drop_call(KEYS[3], KEYS[4], KEYS[5], callid) then return 1 end
  if token == '' then void('c ' .. callid, ASSIGN_VOID_MS) end
  return 0
end

local reply = {0}
for i = 5, #ARGV, 4 do
  local op, callid = ARGV[i], ARGV[i + 1]
  local r
  if op == 'c' then
    r = confirm(callid)
  elseif op == 'r' then
    r = release(callid, ARGV[i + 2])
  elseif op == 'a' or op == 'A' then
    r = assign(callid, op == 'A', ARGV[i + 2], ARGV[i + 3])
  elseif op == 'l' then
    r = ds_loads(KEYS[3])
  else
    r = reserve(callid, op == 'V', ARGV[i + 2], ARGV[i + 3])
  end
  reply[#reply + 1] = r
end
return reply
