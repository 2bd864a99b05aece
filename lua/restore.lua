-- restore.lua: put claimed entries back in the DLQ, unchanged, when their
-- retry failed or their claim is older than the caller allows. They go to
-- the tail, among the entries of their age.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV     pairs of an id and its in-flight value as the caller read it
--
-- A claim that changed or went since the caller read it is left alone.
-- Returns how many entries were put back.

local n = 0
for i = 1, #ARGV, 2 do
  local id, v = ARGV[i], ARGV[i + 1]
  if redis.call('HGET', KEYS[3], id) == v then
    redis.call('HDEL', KEYS[3], id)
    local sep = string.find(v, ':', 1, true)
    if sep then
      local entry = string.sub(v, sep + 1)
      redis.call('RPUSH', KEYS[1], entry)
      redis.call('HSET', KEYS[2], id, entry)
      n = n + 1
    end
  end
end
return n
