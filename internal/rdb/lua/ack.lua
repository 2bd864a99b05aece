-- ack.lua ends a successful retry: it removes the exact entry, and the
-- claim if it is still this retry's.
-- KEYS[1] the list, KEYS[2] the claims hash
-- ARGV[1] id, ARGV[2] the claim's token, ARGV[3] the exact entry,
-- ARGV[4] where the entry was (a position, see lib.lua)
-- Returns {removed (0 or 1), held (1 if the claim was still ours)}.
local c = redis.call('HGET', KEYS[2], ARGV[1])
local held = 0
if c and string.match(c, '^%d+:(.*)$') == ARGV[2] then
  held = 1
  redis.call('HDEL', KEYS[2], ARGV[1])
end
-- LREM from the end the position is named from (see lib.lua).
local count = 1
if tonumber(ARGV[4]) < 0 then count = -1 end
return {redis.call('LREM', KEYS[1], count, ARGV[3]), held}
