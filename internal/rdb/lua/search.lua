-- search.lua looks for an id in a bounded stretch of the list, from the
-- head toward the tail, inside Redis (at most 2,048 entries or 512 KB a
-- call): entries are compared in Lua and
-- only candidates leave it. The caller decodes each candidate and goes on
-- from where this call stopped.
-- KEYS[1] the list
-- ARGV[1] the index (from the head) to start at, then the needles: the
-- forms of the quoted id as JSON writers write it ("<id>").
-- Returns {next index (-1 at the end of the list), candidate index,
-- candidate, ...}: the candidates of the stretch read, which ends once
-- they hold 64 KB (not after a few candidates: a needle found in most
-- entries, an id such as "x" or the kind's name, would make each call
-- stop after 8 entries and the caller's overlap step back over them, one
-- entry a call); next is where to go on.
--[[lib]]
local start = tonumber(ARGV[1])
local bytes, seen, cbytes = 0, 0, 0
local found = {0} -- found[1] is the next index, set on return (no unpack: it overflows Lua's stack past ~8,000 values)
local i = start
local step = 8
while seen < 2048 and bytes < max_bytes / 2 and cbytes < 65536 do
  local got = redis.call('LRANGE', KEYS[1], i, i + step - 1)
  for j = 1, #got do
    local e = got[j]
    bytes = bytes + #e
    for q = 2, #ARGV do
      if string.find(e, ARGV[q], 1, true) then
        found[#found + 1] = i + j - 1
        found[#found + 1] = e
        cbytes = cbytes + #e
        break
      end
    end
  end
  seen = seen + #got
  i = i + #got
  if #got < step then found[1] = -1; return found end
  -- the next read: as many entries as the bytes left allow, at most 256
  local avg = math.max(1, math.floor(bytes / seen))
  step = math.max(1, math.min(256, math.floor((max_bytes - bytes) / avg)))
end
found[1] = i
return found
