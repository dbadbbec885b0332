-- Moves one job this consumer holds to the dead-letter stream, with its last error.
-- KEYS: the stream, the dead-letter stream, the errors hash (one hash tag).
-- ARGV: group, consumer, job id, job payload, attempts, fallback error.
-- Returns 1 when moved, 0 when the job was not this consumer's.
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if #pending == 0 or pending[1][2] ~= ARGV[2] then
  return 0
end
local error = redis.call('HGET', KEYS[3], ARGV[3]) or ARGV[6]
redis.call('XADD', KEYS[2], '*', 'job', ARGV[4], 'id', ARGV[3], 'attempts', ARGV[5], 'error', error)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
