-- remove.lua: remove exact stored entries the caller read from the list,
-- drop their index entries, and optionally claim them for a retry.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- KEYS[4]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  LREM count: 1 scans from the head, -1 from the tail
-- ARGV[2]  1 to add the removed entries to the evicted counter, else 0
-- ARGV[3]  the claim time in Unix ms, or '' to remove without a claim
-- ARGV[4…] pairs of an entry's id and the entry, exactly as stored
--
-- Entries no longer in the list are skipped. Returns how many were removed.

local count = tonumber(ARGV[1])
local removed = 0
for i = 4, #ARGV, 2 do
  local id, entry = ARGV[i], ARGV[i + 1]
  if redis.call('LREM', KEYS[1], count, entry) > 0 then
    unindex(KEYS[2], entry)
    if ARGV[3] ~= '' then
      redis.call('HSET', KEYS[4], id, ARGV[3] .. ':' .. entry)
    end
    removed = removed + 1
  end
end
if ARGV[2] == '1' and removed > 0 then
  redis.call('INCRBY', KEYS[3], removed)
end
return removed
