-- unindex.lua: drop index entries whose entries the janitor found missing
-- from the list, if they are unchanged since it read them.
--
-- KEYS[1]  the index hash ("{scrape:dlq}:index"): id -> entry
-- ARGV     pairs of id and the index value read
--
-- Returns how many index entries were dropped.

local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
