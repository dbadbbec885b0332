-- Finishes one job, only if this consumer still holds it: its effect (here, a counter),
-- the acknowledgement and the deletion, at once. A consumer that lost the job changes
-- nothing, so a job's effect happens once even when two consumers ran it.
-- KEYS: the stream, the done hash, the errors hash (one hash tag).
-- ARGV: group, consumer, job id, job payload.
-- Returns 1 when finished, 0 when the job was not this consumer's any more.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
