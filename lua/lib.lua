-- lib.lua: helpers prepended to every script of the package (scripts.go).
-- It touches no keys of its own; the scripts pass theirs in.
--
-- The index hash maps an entry's id to the entry exactly as stored in the
-- list, so that LREM can remove it without a scan to find it.

-- unindex drops the index entry of a removed entry, but only if the index
-- points at exactly that entry. The id is read with a pattern rather than
-- cjson, whose error handling differs between Redis and miniredis; a wrong
-- match is harmless, since the index value must equal the entry.
local function unindex(index, entry)
  local id = string.match(entry, '"id"%s*:%s*"([^"\\]*)"')
  if id and redis.call('HGET', index, id) == entry then
    redis.call('HDEL', index, id)
  end
end

-- stamp turns an entry's failed_at into a number that grows with time (not
-- an exact epoch), or nil. Only its order and rough distances matter.
local function stamp(entry)
  if not entry then return nil end
  local y, mo, d, h, mi, s = string.match(entry,
    '"failed_at"%s*:%s*"(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)')
  if not y then return nil end
  return ((((tonumber(y) * 12 + tonumber(mo)) * 31 + tonumber(d)) * 24
    + tonumber(h)) * 60 + tonumber(mi)) * 60 + tonumber(s)
end

-- evict_over_cap removes entries from the tail while the list (len entries
-- long) is longer than cap, at most `most` of them, and counts them.
-- Returns how many.
local function evict_over_cap(list, index, evicted, len, cap, most)
  if cap <= 0 then return 0 end
  local over = len - cap
  if over <= 0 then return 0 end
  if over > most then over = most end
  local n = 0
  for _ = 1, over do
    local old = redis.call('RPOP', list)
    if not old then break end
    unindex(index, old)
    n = n + 1
  end
  redis.call('INCRBY', evicted, n)
  return n
end

