-- expire.lua drops the claims whose deadline has passed: their retries
-- died. Their entries never left the list.
-- KEYS[1] the claims hash
-- ARGV[1] the clock's shift in ms (0; see clock in lib.lua), then the ids
-- to judge.
-- Returns the number of claims dropped.
--[[lib]]
local now = clock(ARGV[1])
local n = 0
for j = 2, #ARGV do
  local c = redis.call('HGET', KEYS[1], ARGV[j])
  if c and deadline_of(c) <= now then
    redis.call('HDEL', KEYS[1], ARGV[j])
    n = n + 1
  end
end
return n
