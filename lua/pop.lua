-- pop.lua: remove the entry with the given id, found through the index,
-- and optionally claim it for a retry by moving it to the in-flight hash.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the push counter ("{scrape:dlq}:seq")
-- KEYS[4]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  the id
-- ARGV[2]  the claim time in Unix ms, or '' to remove without a claim
--
-- Returns the removed entry, or false when the id is not indexed or its
-- index entry was stale (the entry had been removed by another program; the
-- stale index entry is deleted). On false the caller scans the list.

local v = redis.call('HGET', KEYS[2], ARGV[1])
if not v then
  return false
end
redis.call('HDEL', KEYS[2], ARGV[1])
local entry = entry_of(v)
if not entry then
  return false
end

-- LREM scans from one end. The pushes made since this one tell about how
-- far the entry is from the head; scan from whichever end is nearer, so
-- that old entries, which operators retry most, are found at once.
local seq = tonumber(string.sub(v, 1, #v - #entry - 1)) or 0
local newer = (tonumber(redis.call('GET', KEYS[3])) or seq) - seq
local count = 1
if newer * 2 > redis.call('LLEN', KEYS[1]) then
  count = -1
end

if redis.call('LREM', KEYS[1], count, entry) == 0 then
  return false
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[2] .. ':' .. entry)
end
return entry
