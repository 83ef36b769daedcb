-- Records one batch of keepalive round trips for a dispatcher set and reads the states the
-- prober needs to apply the results. One call per shard of pings instead of one per ping.
-- Latency follows Kamailio's ds_ping_latency_stats: an exponentially weighted estimate with
-- alpha = ds_latency_estimator_alpha / 1000, and a cumulative average over at most 10000
-- samples (so it still follows a lasting change).
--
-- KEYS[1]  the set's latency hash  <prefix>:{ds:<setid>}:latency  (URI -> "<est> <avg> <n>")
-- KEYS[2]  the set's state hash    <prefix>:{ds:<setid>}:state    (URI -> "<flags> <count>")
-- ARGV[1]  alpha, per mille (0-1000)
-- ARGV[2..] pairs: lower-cased URI, RTT in ms ('' when the ping failed: latency unchanged)
-- returns  {0, state1, state2, ...} in ARGV order, '' for a URI without state (removed),
--          {ERR_BAD_ARGUMENT}, {ERR_WRONG_TYPE}
-- @include reply

for _, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'none' and kind ~= 'hash' then return {ERR_WRONG_TYPE} end
end
local alpha = tonumber(ARGV[1])
if alpha == nil or alpha < 0 or alpha > 1000 or (#ARGV - 1) % 2 ~= 0 then return {ERR_BAD_ARGUMENT} end
alpha = alpha / 1000
local out = {0}
for i = 2, #ARGV, 2 do
  local field = ARGV[i]
  local rtt = tonumber(ARGV[i + 1])
  local state = redis.call('HGET', KEYS[2], field)
  if state and rtt then
    local est, avg, n = rtt, rtt, 1
    local old = redis.call('HGET', KEYS[1], field)
    if old then
      local e, a, c = string.match(old, '^(%S+) (%S+) (%d+)$')
      e, a, c = tonumber(e), tonumber(a), tonumber(c)
      if e and a and c then
        est = alpha * e + (1 - alpha) * rtt
        n = math.min(c + 1, 10000)
        avg = a + (rtt - a) / n
      end
    end
    redis.call('HSET', KEYS[1], field, string.format('%.3f %.3f %d', est, avg, n))
  end
  out[#out + 1] = state or ''
end
return out
