-- push.lua: add one entry at the head of a DLQ list, index it, and enforce
-- the size cap in the same atomic step.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  the size cap; 0 means none
-- ARGV[2]  the most entries one push may evict
-- ARGV[3]  the entry's id
-- ARGV[4]  the entry, exactly as stored in the list
--
-- Returns the number of entries evicted from the tail.

local len = redis.call('LPUSH', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return evict_over_cap(KEYS[1], KEYS[2], KEYS[3], len, tonumber(ARGV[1]), tonumber(ARGV[2]))
