-- opslist.lua reads the newest operations and the server's clock, in one
-- call. The operations' hashes are named from KEYS[1]'s hash tag (ARGV[1]
-- is "{<list>}:op:"), so they share its slot; their ids are only known
-- once the set is read.
-- KEYS[1] the sorted set of operations
-- ARGV[1] the prefix of an operation's hash, ARGV[2] how many
-- Returns {now ms, {id, {field, value, …}}, …}, newest first.
local t = redis.call('TIME')
local out = {t[1] * 1000 + math.floor(t[2] / 1000)}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  local h = redis.call('HGETALL', ARGV[1] .. id)
  if #h > 0 then out[#out + 1] = {id, h} end
end
return out
