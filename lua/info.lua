-- info.lua: the counters of one kind, read in one step.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index")
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- KEYS[4]  the in-flight hash ("{scrape:dlq}:inflight")
--
-- Returns {list length, index entries, evicted, in flight}.

return {
  redis.call('LLEN', KEYS[1]),
  redis.call('HLEN', KEYS[2]),
  tonumber(redis.call('GET', KEYS[3]) or '0'),
  redis.call('HLEN', KEYS[4]),
}
