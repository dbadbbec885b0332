-- TEST ONLY, never shipped: lua/renew.lua that never tells the owner it lost the job, for
-- the negative control of the exactly-once test. It still renews only a job this consumer
-- holds (claiming another's would be a different fault), but always answers "renewed", so a
-- paused owner that wakes runs its job to the end instead of stopping it.
-- KEYS[1]: the stream. ARGV: group, consumer, job id.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending > 0 and pending[1][2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
end
return 1
