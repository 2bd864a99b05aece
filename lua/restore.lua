-- restore.lua: put claimed entries back at the head of the DLQ, unchanged,
-- when their retry failed or their claim is older than the caller allows.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the push counter ("{scrape:dlq}:seq")
-- KEYS[4]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV     pairs of an id and its in-flight value as the caller read it
--
-- A claim that changed or went since the caller read it is left alone.
-- Returns how many entries were put back.

local n = 0
for i = 1, #ARGV, 2 do
  local id, v = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEYS[4], id) == v then
    local entry = entry_of(v)
    redis.call('HDEL', KEYS[4], id)
    if entry then
      redis.call('LPUSH', KEYS[1], entry)
      redis.call('HSET', KEYS[2], id, redis.call('INCR', KEYS[3]) .. ':' .. entry)
      n = n + 1
    end
  end
end
return n
