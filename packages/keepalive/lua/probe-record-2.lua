-- Records one batch of keepalive round trips for a dispatcher set and reads the states the
-- prober needs to apply the results. One call per shard of pings instead of one per ping.
-- Latency follows Kamailio's ds_ping_latency_stats (dispatch.c latency_stats_update): Welford's
-- online average and standard deviation, the longest round trip, the timeouts, and an
-- exponentially weighted estimate
--   estimate = alpha * rtt + (1 - alpha) * estimate,  alpha = ds_latency_estimator_alpha / 1000
-- (the weight of the NEW sample, as Kamailio documents it: the higher alpha, the closer the
-- estimate tracks the samples), equal to the average for the first 10 samples. The count stops
-- at 2^21; past it the sum of squares decays in proportion, so the statistics still follow a
-- lasting change. A stable destination (std < 0.5 after 10 samples) jumps to 10000 samples, as
-- Kamailio's estimator training does.
--
-- KEYS[1]  the set's latency hash  <prefix>:{ds:<setid>}:latency
--          (URI -> "<est> <avg> <n> <std> <max> <timeouts> <m2>", fleet/codec.ts decodeLatency)
-- KEYS[2]  the set's state hash    <prefix>:{ds:<setid>}:state    (URI -> "<flags> <count>")
-- ARGV[1]  alpha, per mille (0-1000)
-- ARGV[2..] pairs: lower-cased URI, RTT in ms; 't' when the ping timed out (Kamailio's 408: the
--          timeout count goes up), '' when it failed otherwise (statistics unchanged)
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
local MAX_COUNT = 2097152
local TRAINED = 10000

-- est, avg, n, std, max, timeouts, m2 of a stored value; a value of an earlier release (three
-- fields, no sum of squares) starts afresh rather than look perfectly stable.
local function decode(value)
  local f = {}
  for word in string.gmatch(value or '', '%S+') do f[#f + 1] = tonumber(word) or 0 end
  if #f < 7 then return 0, 0, 0, 0, 0, 0, 0 end
  return f[1], f[2], f[3], f[4], f[5], f[6], f[7]
end

local out = {0}
for i = 2, #ARGV, 2 do
  local field = ARGV[i]
  local sample = ARGV[i + 1]
  local rtt = tonumber(sample)
  local state = redis.call('HGET', KEYS[2], field)
  if state and (rtt or sample == 't') then
    local est, avg, n, std, max, timeouts, m2 = decode(redis.call('HGET', KEYS[1], field))
    if rtt then
      if n < MAX_COUNT then n = n + 1 else m2 = m2 - m2 / n end
      if n == 1 then
        est, avg, std, max, m2 = rtt, rtt, 0, rtt, 0
      end
      if n > 10 and n < TRAINED and std < 0.5 then n = TRAINED end
      if rtt > max then max = rtt end
      if n > 1 then
        local delta = rtt - avg
        avg = avg + delta / n
        m2 = m2 + delta * (rtt - avg)
        std = math.sqrt(math.max(m2, 0) / (n - 1))
      end
      if n < 10 then est = avg else est = alpha * rtt + (1 - alpha) * est end
    else
      timeouts = timeouts + 1
    end
    redis.call('HSET', KEYS[1], field,
      string.format('%.3f %.3f %d %.3f %.3f %d %.6f', est, avg, n, std, max, timeouts, m2))
  end
  out[#out + 1] = state or ''
end
return out
