-- GCRA (generic cell rate algorithm) for one key, atomically, on Redis time.
-- KEYS[1]: the key, holding the theoretical arrival time (TAT) in microseconds.
-- ARGV: emission interval (us), burst, cost. The caller ensures 1 <= cost <= burst and
-- burst * interval <= 2^51 (Policy::with_burst), so every number here (now ~2^51 us, plus up
-- to twice the capacity) stays an exact integer in Lua's doubles.
-- ARGV[4] = 'peek': decide without counting the request (nothing is written).
-- Returns {allowed (0|1), remaining, retry_after_us, reset_us}.
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then
  tat = now
end
local capacity = burst * interval
local new_tat = tat + cost * interval
local allow_at = new_tat - capacity
if now < allow_at then
  return {0, math.floor((capacity - (tat - now)) / interval), allow_at - now, tat - now}
end
local ttl = new_tat - now
if ARGV[4] == 'peek' then
  return {1, math.floor((now - allow_at) / interval), 0, ttl}
end
-- '%d' keeps all digits; the default number-to-string conversion may not.
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil(ttl / 1000))
return {1, math.floor((now - allow_at) / interval), 0, ttl}
