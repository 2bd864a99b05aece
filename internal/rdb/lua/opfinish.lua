-- opfinish.lua ends a running operation the caller owns.
-- KEYS[1] the operation's hash
-- ARGV[1] owner, ARGV[2] state, ARGV[3..6] matched, handled, failed, skipped,
-- ARGV[7] error text, ARGV[8] how long it is kept (ms)
-- Returns 1, or 0 when the caller does not own it (it was taken over).
local h = redis.call('HMGET', KEYS[1], 'owner', 'state')
if h[1] ~= ARGV[1] or h[2] ~= 'running' then return 0 end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'matched', ARGV[3], 'handled', ARGV[4], 'failed', ARGV[5],
  'skipped', ARGV[6], 'error', ARGV[7], 'heartbeat', now, 'finished', now)
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return 1
