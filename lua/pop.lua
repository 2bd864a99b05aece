-- pop.lua: remove the entry with the given id, found through the index,
-- and optionally claim it for a retry by moving it to the in-flight hash.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  the id
-- ARGV[2]  the claim time in Unix ms, or '' to remove without a claim
--
-- Returns the removed entry, or false when the id is not indexed or its
-- index entry was stale (the entry had been removed by another program; the
-- stale index entry is deleted). On false the caller scans the list.

local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then
  return false
end
redis.call('HDEL', KEYS[2], ARGV[1])

-- LREM scans from one end. The list is newest first, so an entry older
-- than the middle one lies in the tail half: scan from the tail. Old
-- entries, which operators retry most, are found at once.
local count = 1
local len = redis.call('LLEN', KEYS[1])
if len > 64 then
  local t = stamp(entry)
  local mid = stamp(redis.call('LINDEX', KEYS[1], math.floor(len / 2)))
  if t and mid and t < mid then
    count = -1
  end
end

if redis.call('LREM', KEYS[1], count, entry) == 0 then
  return false
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ':' .. entry)
end
return entry
