-- optakeover.lua makes the caller the owner of an operation nobody runs:
-- interrupted, or running with a heartbeat older than the bound. Two
-- callers never both get it: the first sets a fresh heartbeat.
-- KEYS[1] the operation's hash
-- ARGV[1] the new owner, ARGV[2] how old a heartbeat may be (ms)
-- Returns 'ok', 'missing', 'finished' or 'running' (someone runs it).
local h = redis.call('HMGET', KEYS[1], 'state', 'heartbeat')
if not h[1] then return 'missing' end
if h[1] ~= 'running' and h[1] ~= 'interrupted' then return 'finished' end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if h[1] == 'running' and now - (tonumber(h[2]) or 0) <= tonumber(ARGV[2]) then return 'running' end
redis.call('HSET', KEYS[1], 'state', 'running', 'owner', ARGV[1], 'heartbeat', now)
redis.call('HINCRBY', KEYS[1], 'resumed', 1)
return 'ok'
