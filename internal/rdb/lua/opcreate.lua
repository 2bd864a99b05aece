-- opcreate.lua records a new operation, running, owned by its starter.
-- KEYS[1] the operation's hash, KEYS[2] the sorted set of operations
-- ARGV[1] id, ARGV[2] how long an operation is kept (ms), ARGV[3..] field, value, …
-- Returns {now ms, operations kept}: the caller trims beyond its bound.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'created', now, 'started', now, 'heartbeat', now, unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - tonumber(ARGV[2])))
return {now, redis.call('ZCARD', KEYS[2])}
