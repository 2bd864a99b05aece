-- take.lua: remove chosen entries from a window near the tail of a DLQ
-- list in one pass, and optionally claim them for a retry. Bulk actions
-- walk the list from the oldest end with it, so that each call costs one
-- scan from the tail to the window, never one scan per entry.
--
-- KEYS[1]  the DLQ list ("scrape:dlq")
-- KEYS[2]  the index hash ("{scrape:dlq}:index"): id -> "<seq>:<entry>"
-- KEYS[3]  the in-flight hash ("{scrape:dlq}:inflight"): id -> "<claimed ms>:<entry>"
-- ARGV[1]  the window's distance from the tail: 0 starts at the oldest entry
-- ARGV[2]  the window's length
-- ARGV[3]  the claim time in Unix ms, or '' to remove without a claim
-- ARGV[4]  a tombstone: a string no entry can equal
-- ARGV[5…] pairs of an entry's id and the entry, exactly as stored
--
-- Entries are looked for in the window widened toward the tail by its
-- length, since removals nearer the tail shift it; entries not found there
-- are left alone. Returns the ids of the entries taken.

local off, len = tonumber(ARGV[1]), tonumber(ARGV[2])
local from = off - len
if from < 0 then from = 0 end
local stop = off + len - 1
-- Tail-relative positions from..stop are list indexes -(stop+1)..-(from+1).
local window = redis.call('LRANGE', KEYS[1], -(stop + 1), -(from + 1))
local llen = redis.call('LLEN', KEYS[1])
-- The first element of window is at list index first.
local first = llen - from - #window
local want = {}
for i = 5, #ARGV, 2 do
  want[ARGV[i + 1]] = ARGV[i]
end

local taken, entries = {}, {}
for i, entry in ipairs(window) do
  local id = want[entry]
  if id then
    redis.call('LSET', KEYS[1], first + i - 1, ARGV[4])
    want[entry] = nil
    taken[#taken + 1] = id
    entries[#entries + 1] = entry
  end
end
if #taken == 0 then
  return taken
end
redis.call('LREM', KEYS[1], -#taken, ARGV[4])
for i, entry in ipairs(entries) do
  unindex(KEYS[2], entry)
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[3], taken[i], ARGV[3] .. ':' .. entry)
  end
end
return taken
