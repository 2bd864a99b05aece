-- release.lua drops a claim if it is still the given token's; the entry
-- never moved, so nothing else changes.
-- KEYS[1] the claims hash
-- ARGV[1] id, ARGV[2] the claim's token
-- Returns 1 if the claim was dropped, 0 if it was no longer this token's.
local c = redis.call('HGET', KEYS[1], ARGV[1])
if c and string.match(c, '^%d+:(.*)$') == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
