-- lib.lua: helpers prepended to every script of the package (scripts.go).
-- It touches no keys of its own; the scripts pass theirs in.
--
-- The index hash maps an entry's id to "<seq>:<entry>": the push's number
-- (from the push counter) and the entry exactly as stored in the list, so
-- that LREM can remove it without a scan to find it.

-- entry_of returns the entry of an index value "<seq>:<entry>".
local function entry_of(v)
  local sep = string.find(v, ':', 1, true)
  if not sep then return nil end
  return string.sub(v, sep + 1)
end

-- unindex drops the index entry of a removed entry, but only if the index
-- points at exactly that entry. The id is read with a pattern rather than
-- cjson, whose error handling differs between Redis and miniredis; a wrong
-- match is harmless, since the index value must hold the entry.
local function unindex(index, entry)
  local id = string.match(entry, '"id"%s*:%s*"([^"\\]*)"')
  if not id then return end
  local v = redis.call('HGET', index, id)
  if v and entry_of(v) == entry then
    redis.call('HDEL', index, id)
  end
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

