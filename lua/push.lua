-- push.lua: add one entry at the head of a DLQ list, index it, and enforce
-- the size cap in the same atomic step.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the push counter ("{scrape:dlq}:seq")
-- KEYS[4]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  the entry's id
-- ARGV[2]  the entry, exactly as stored in the list
-- ARGV[3]  the size cap; 0 means none
-- ARGV[4]  the most entries one push may evict
--
-- Returns the number of entries evicted from the tail.

local seq = redis.call('INCR', KEYS[3])
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], seq .. ':' .. ARGV[2])
return evict_over_cap(KEYS[1], KEYS[2], KEYS[4], tonumber(ARGV[3]), tonumber(ARGV[4]))
