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

-- unindex_all is unindex for many entries, in two calls: HMGET and HDEL.
local function unindex_all(index, entries)
  local ids, olds = {}, {}
  for _, entry in ipairs(entries) do
    local id = string.match(entry, '"id"%s*:%s*"([^"\\]*)"')
    if id then
      ids[#ids + 1] = id
      olds[#olds + 1] = entry
    end
  end
  if #ids == 0 then return end
  local vs = redis.call('HMGET', index, unpack(ids))
  local gone = {}
  for i, id in ipairs(ids) do
    if vs[i] and entry_of(vs[i]) == olds[i] then
      gone[#gone + 1] = id
    end
  end
  if #gone > 0 then
    redis.call('HDEL', index, unpack(gone))
  end
end

-- evict_over_cap removes entries from the tail while the list (len entries
-- long) is longer than cap, at most `most` of them, drops their index
-- entries, and counts them. Returns how many. It costs four calls however
-- many entries go: RPOP with a count, HMGET, HDEL and INCRBY.
local function evict_over_cap(list, index, evicted, len, cap, most)
  if cap <= 0 then return 0 end
  local over = len - cap
  if over <= 0 then return 0 end
  if over > most then over = most end
  local old = redis.call('RPOP', list, over)
  if not old or #old == 0 then return 0 end
  unindex_all(index, old)
  redis.call('INCRBY', evicted, #old)
  return #old
end
