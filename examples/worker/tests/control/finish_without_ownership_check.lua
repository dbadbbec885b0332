-- TEST ONLY, never shipped: lua/finish.lua without its ownership check, for the negative
-- control of the exactly-once test. A consumer that lost its job still applies the effect.
-- KEYS: the stream, the done hash, the errors hash. ARGV: group, consumer, job id, payload.
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1
