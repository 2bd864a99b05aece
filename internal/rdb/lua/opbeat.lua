-- opbeat.lua writes a running operation's counts and heartbeat, if the
-- caller still owns it.
-- KEYS[1] the operation's hash
-- ARGV[1] owner, ARGV[2..5] matched, handled, failed, skipped, ARGV[6] how long it is kept (ms)
-- Returns 'ok', 'cancel' (someone asked it to stop) or 'lost' (another
-- owner, or not running).
local h = redis.call('HMGET', KEYS[1], 'owner', 'state', 'cancel')
if h[1] ~= ARGV[1] or h[2] ~= 'running' then return 'lost' end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', KEYS[1], 'matched', ARGV[2], 'handled', ARGV[3], 'failed', ARGV[4], 'skipped', ARGV[5], 'heartbeat', now)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if h[3] == '1' then return 'cancel' end
return 'ok'
