-- Renews this consumer's lease on one job, only if it still holds it.
-- KEYS[1]: the stream. ARGV: group, consumer, job id.
-- Returns 1 when renewed, 0 when another consumer holds it now (or nobody does).
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
return 1
