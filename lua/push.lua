-- push.lua: add entries at the head of a DLQ list, index them, and enforce
-- the size cap, in one atomic step. Concurrent pushes of one kind share a
-- call (see batch.go).
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the evicted counter ("{scrape:dlq}:evicted")
-- KEYS[4]  the push counter ("{scrape:dlq}:seq")
-- ARGV[1]  the size cap; 0 means none
-- ARGV[2]  the most entries this call may evict
-- ARGV[3…] pairs of an entry's id and the entry, exactly as stored, oldest
--          first; the last ends up at the head
--
-- Returns the number of entries evicted from the tail.

local n = (#ARGV - 2) / 2
local seq = redis.call('INCRBY', KEYS[4], n) - n
local len
if n == 1 then
  len = redis.call('LPUSH', KEYS[1], ARGV[4])
  redis.call('HSET', KEYS[2], ARGV[3], (seq + 1) .. ':' .. ARGV[4])
else
  local entries, fields = {}, {}
  for i = 3, #ARGV, 2 do
    seq = seq + 1
    entries[#entries + 1] = ARGV[i + 1]
    fields[#fields + 1] = ARGV[i]
    fields[#fields + 1] = seq .. ':' .. ARGV[i + 1]
  end
  len = redis.call('LPUSH', KEYS[1], unpack(entries))
  redis.call('HSET', KEYS[2], unpack(fields))
end
return evict_over_cap(KEYS[1], KEYS[2], KEYS[3], len, tonumber(ARGV[1]), tonumber(ARGV[2]))
