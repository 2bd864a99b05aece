-- pop.lua: remove the entry with the given id, found through the index.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- ARGV[1]  the id
--
-- Returns the removed entry, or false when the id is not indexed or its
-- index entry was stale (the entry had been removed by another program; the
-- stale index entry is deleted). On false the caller scans the list.

local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then
  return false
end
redis.call('HDEL', KEYS[2], ARGV[1])

-- LREM scans from one end. Scan from the end whose entry's failed_at is
-- nearer this one's: old entries, which operators retry most, are found
-- at the tail at once.
local count = 1
if redis.call('LLEN', KEYS[1]) > 64 then
  local t = stamp(entry)
  local head = stamp(redis.call('LINDEX', KEYS[1], 0))
  local tail = stamp(redis.call('LINDEX', KEYS[1], -1))
  if t and head and tail and head - t > t - tail then
    count = -1
  end
end

if redis.call('LREM', KEYS[1], count, entry) == 0 then
  return false
end
return entry
