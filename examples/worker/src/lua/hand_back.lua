-- Hands one job back, only if this consumer still holds it: the job stays pending, but as
-- if its lease had just run out (idle = the lease), so another consumer takes it over at
-- its next look (once a second) instead of a whole lease later. JUSTID adds no delivery;
-- the one this consumer had still counts as an attempt, so a job that never fits in a
-- shutdown budget ends in the dead letters rather than circling forever.
-- KEYS[1]: the stream. ARGV: group, consumer, job id, lease in ms.
-- Returns 1 when handed back, 0 when the job was not this consumer's.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1
