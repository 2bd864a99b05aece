-- migrate.lua moves what an earlier version of dlq left in Redis into the
-- current model: entries it had moved out of the list for a retry go back
-- to the list's tail (where entries of their age are), and the second copy
-- of every entry (the index) is deleted.
-- KEYS[1] the list, KEYS[2] the old in-flight hash (id -> "<ms>:<entry>"),
-- KEYS[3] the old index hash
-- Returns the number of entries put back.
local kv = redis.call('HGETALL', KEYS[2])
local n = 0
for j = 2, #kv, 2 do
  local e = string.match(kv[j], '^%d+:(.*)$') or kv[j]
  redis.call('RPUSH', KEYS[1], e)
  n = n + 1
end
redis.call('DEL', KEYS[2], KEYS[3])
return n
