-- remove.lua: remove exact stored entries the caller read from the list,
-- and their index entries.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  LREM count: 1 scans from the head, -1 from the tail
-- ARGV[2]  1 to add the removed entries to the evicted counter, else 0
-- ARGV[3…] the entries, exactly as stored
--
-- Entries no longer in the list are skipped. Returns how many were removed.

local count = tonumber(ARGV[1])
local removed = 0
for i = 3, #ARGV do
  if redis.call('LREM', KEYS[1], count, ARGV[i]) > 0 then
    unindex(KEYS[2], ARGV[i])
    removed = removed + 1
  end
end
if ARGV[2] == '1' and removed > 0 then
  redis.call('INCRBY', KEYS[3], removed)
end
return removed
