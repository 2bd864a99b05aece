-- expire.lua drops the claims whose deadline has passed: their retries
-- died. Their entries never left the list.
-- KEYS[1] the claims hash
-- ARGV the ids to judge, by the Redis server's clock (see clock in
-- lib.lua).
-- Returns the number of claims dropped.
--[[lib]]
local now = clock()
local n = 0
for j = 1, #ARGV do
  local c = redis.call('HGET', KEYS[1], ARGV[j])
  if c and deadline_of(c) <= now then
    redis.call('HDEL', KEYS[1], ARGV[j])
    n = n + 1
  end
end
return n
