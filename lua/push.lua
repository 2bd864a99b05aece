-- push.lua: add one entry at the head of a DLQ list, index it, and enforce
-- the size cap in the same atomic step.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the push counter ("{scrape:dlq}:seq")
-- KEYS[4]  the evicted counter ("{scrape:dlq}:evicted")
-- ARGV[1]  the entry's id
-- ARGV[2]  the entry, exactly as stored in the list
-- ARGV[3]  the size cap; 0 means none
-- ARGV[4]  the most entries one push may evict
--
-- Returns the number of entries evicted from the tail.

local seq = redis.call('INCR', KEYS[3])
local n = redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], seq .. ':' .. ARGV[2])

local cap = tonumber(ARGV[3])
if cap <= 0 or n <= cap then
  return 0
end

local over = n - cap
local most = tonumber(ARGV[4])
if over > most then over = most end

local evicted = 0
for _ = 1, over do
  local old = redis.call('RPOP', KEYS[1])
  if not old then break end
  evicted = evicted + 1
  -- Drop the index entry only if it points at exactly this entry.
  local id = string.match(old, '"id"%s*:%s*"([^"\\]*)"')
  if id then
    local v = redis.call('HGET', KEYS[2], id)
    if v then
      local sep = string.find(v, ':', 1, true)
      if sep and string.sub(v, sep + 1) == old then
        redis.call('HDEL', KEYS[2], id)
      end
    end
  end
end
redis.call('INCRBY', KEYS[4], evicted)
return evicted
