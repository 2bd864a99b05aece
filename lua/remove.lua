-- remove.lua: remove one exact stored entry, found by the caller's scan, and
-- its index entry if it points at it.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- ARGV[1]  the entry's id
-- ARGV[2]  the entry, exactly as stored
-- ARGV[3]  LREM count: 1 scans from the head, -1 from the tail
--
-- Returns 1 when the entry was removed, 0 when it was no longer there.

local removed = redis.call('LREM', KEYS[1], tonumber(ARGV[3]), ARGV[2])
local v = redis.call('HGET', KEYS[2], ARGV[1])
if v then
  local sep = string.find(v, ':', 1, true)
  if sep and string.sub(v, sep + 1) == ARGV[2] then
    redis.call('HDEL', KEYS[2], ARGV[1])
  end
end
if removed > 0 then
  return 1
end
return 0
