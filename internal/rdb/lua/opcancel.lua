-- opcancel.lua asks an operation to stop. A running one with a live
-- heartbeat gets the flag its runner polls; one nobody runs (interrupted,
-- or its heartbeat older than the bound) is cancelled here.
-- KEYS[1] the operation's hash
-- ARGV[1] how old a heartbeat may be (ms)
-- Returns 'missing', 'finished' (done, cancelled or failed already),
-- 'requested' or 'cancelled'.
local h = redis.call('HMGET', KEYS[1], 'state', 'heartbeat')
if not h[1] then return 'missing' end
if h[1] ~= 'running' and h[1] ~= 'interrupted' then return 'finished' end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if h[1] == 'running' and now - (tonumber(h[2]) or 0) <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return 'requested'
end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'cancel', '1', 'finished', now)
return 'cancelled'
