-- trim.lua: evict entries from the tail while the list is over its cap.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  the size cap; 0 means none
-- ARGV[2]  the most entries this call may evict
--
-- Returns how many entries were evicted.

return evict_over_cap(KEYS[1], KEYS[2], KEYS[3], redis.call('LLEN', KEYS[1]),
  tonumber(ARGV[1]), tonumber(ARGV[2]))
