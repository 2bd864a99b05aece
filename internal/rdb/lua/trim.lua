-- trim.lua evicts the oldest entries over the cap and counts them. LTRIM
-- runs first, so the eviction happens even when Redis is out of memory or
-- the counter is corrupt; the counter's error is returned, not raised.
-- KEYS[1] the list, KEYS[2] the evicted counter
-- ARGV[1] the cap
-- Returns {evicted, counter error ("" if none)}.
local max = tonumber(ARGV[1])
local over = redis.call('LLEN', KEYS[1]) - max
if over <= 0 then return {0, ''} end
redis.call('LTRIM', KEYS[1], 0, max - 1)
local r = redis.pcall('INCRBY', KEYS[2], over)
if type(r) == 'table' and r.err then return {over, r.err} end
return {over, ''}
