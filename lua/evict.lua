-- evict.lua: evict entries from the tail while the list is over its cap,
-- and count them. Sent inside MULTI right after LRANGE KEYS[1] -ARGV[2] -1,
-- so the caller knows which entries went: the last n of that range. The
-- entries never pass through Lua, which made evicting them cost several
-- times what the LTRIM does.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  the size cap; 0 means none
-- ARGV[2]  the most entries this call may evict
--
-- Returns n, how many entries were evicted.

local cap, most = tonumber(ARGV[1]), tonumber(ARGV[2])
if cap <= 0 then return 0 end
local len = redis.call('LLEN', KEYS[1])
local over = len - cap
if over <= 0 then return 0 end
if over > most then over = most end
redis.call('LTRIM', KEYS[1], 0, len - over - 1)
redis.call('INCRBY', KEYS[2], over)
return over
