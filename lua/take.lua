-- take.lua: remove chosen entries, found at known distances from the tail,
-- in one pass, and optionally claim them for a retry. Bulk actions walk
-- the list from the oldest end and send what they matched here in batches,
-- so that a batch costs one LREM scan, never one scan per entry.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> entry
-- KEYS[3]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  the claim time in Unix ms, or '' to remove without a claim
-- ARGV[2]  a tombstone: a string no entry can equal
-- ARGV[3…] triples: the entry's distance from the tail when the caller read
--          it (0 = the oldest), its id, and the entry exactly as stored
--
-- Removals nearer the tail since the caller read the list move entries
-- toward it, so an entry not at its distance is looked for up to 256
-- places nearer the tail; entries not found are left alone. Each found
-- entry is overwritten with the tombstone (LSET), and one LREM, from the
-- nearer end, removes them all. Returns the ids of the entries taken.

local slack = 256
local ids, entries = {}, {}
local sum = 0
for i = 3, #ARGV, 3 do
  local pos, id, entry = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  local at = nil
  if redis.call('LINDEX', KEYS[1], -(pos + 1)) == entry then
    at = pos
  else
    local lo = pos - slack
    if lo < 0 then lo = 0 end
    -- Distances pos down to lo, newest first.
    local near = redis.call('LRANGE', KEYS[1], -(pos + 1), -(lo + 1))
    for j, v in ipairs(near) do
      if v == entry then
        at = lo + (#near - j)
        break
      end
    end
  end
  if at then
    redis.call('LSET', KEYS[1], -(at + 1), ARGV[2])
    ids[#ids + 1] = id
    entries[#entries + 1] = entry
    sum = sum + at
  end
end
if #ids == 0 then
  return ids
end

local count = -#ids
if (sum / #ids) * 2 > redis.call('LLEN', KEYS[1]) then
  count = #ids
end
redis.call('LREM', KEYS[1], count, ARGV[2])
unindex_all(KEYS[2], entries)
if ARGV[1] ~= '' then
  local claims = {}
  for i, entry in ipairs(entries) do
    claims[#claims + 1] = ids[i]
    claims[#claims + 1] = ARGV[1] .. ':' .. entry
  end
  redis.call('HSET', KEYS[3], unpack(claims))
end
return ids
