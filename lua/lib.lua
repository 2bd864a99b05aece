-- lib.lua: helpers prepended to every script of the package (scripts.go).
-- It touches no keys of its own; the scripts pass theirs in.
--
-- The index hash maps an entry's id to the entry exactly as stored in the
-- list, so that LREM can remove it without a scan to find it.

-- id_of reads an entry's id with a pattern rather than cjson, whose error
-- handling differs between Redis and miniredis; entries this library wrote
-- start with {"id":"<36-byte UUID>", which is read without the pattern.
-- Ids with escapes are not read: such entries, which only other programs
-- write, are never indexed.
local function id_of(entry)
  if string.sub(entry, 1, 7) == '{"id":"' and string.byte(entry, 44) == 34 then
    local id = string.sub(entry, 8, 43)
    if not string.find(id, '["\\]') then return id end
  end
  return string.match(entry, '"id"%s*:%s*"([^"\\]*)"')
end

-- unindex drops the index entry of a removed entry, but only if the index
-- points at exactly that entry.
local function unindex(index, entry)
  local id = id_of(entry)
  if id and redis.call('HGET', index, id) == entry then
    redis.call('HDEL', index, id)
  end
end

-- unindex_all is unindex for many entries, in two calls: HMGET and HDEL.
local function unindex_all(index, entries)
  local ids, olds = {}, {}
  for _, entry in ipairs(entries) do
    local id = id_of(entry)
    if id then
      ids[#ids + 1] = id
      olds[#olds + 1] = entry
    end
  end
  if #ids == 0 then return end
  local vs = redis.call('HMGET', index, unpack(ids))
  local gone = {}
  for i, id in ipairs(ids) do
    if vs[i] == olds[i] then
      gone[#gone + 1] = id
    end
  end
  if #gone > 0 then
    redis.call('HDEL', index, unpack(gone))
  end
end

-- stamp turns an entry's failed_at into a number of seconds that grows
-- with time (not an exact epoch: months count 31 days, offsets are ignored),
-- with its fraction, or nil. Only its order matters.
local function stamp(entry)
  if not entry then return nil end
  local y, mo, d, h, mi, s, frac = string.match(entry,
    '"failed_at"%s*:%s*"(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):(%d%d)([%.%d]*)')
  if not y then return nil end
  local t = (((((tonumber(y) - 2000) * 12 + tonumber(mo)) * 31 + tonumber(d)) * 24
    + tonumber(h)) * 60 + tonumber(mi)) * 60 + tonumber(s)
  if #frac > 1 then
    t = t + (tonumber('0' .. frac) or 0)
  end
  return t
end
