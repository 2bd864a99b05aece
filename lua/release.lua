-- release.lua: end a claim whose retry succeeded.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  the id
-- ARGV[2]  its in-flight value as the claim wrote it
--
-- Returns 1 when the claim was ended, 2 when a Recover had put the entry
-- back meanwhile (at the tail) and it was taken out of the DLQ again, 0
-- when neither was found.

if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 1
end
local sep = string.find(ARGV[2], ':', 1, true)
if not sep then
  return 0
end
local entry = string.sub(ARGV[2], sep + 1)
if redis.call('LREM', KEYS[1], -1, entry) > 0 then
  unindex(KEYS[2], entry)
  return 2
end
return 0
