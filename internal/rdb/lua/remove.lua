-- remove.lua removes exact entries, each from the end nearer to where it
-- was seen, skipping entries with a live claim. It writes only with LREM,
-- LTRIM and HDEL, which Redis runs even when it is out of memory. The
-- claims hash is looked into only when it exists: without claims, each
-- entry costs one LREM, and entries that are the list's last ones cost one
-- LTRIM together.
-- KEYS[1] the list, KEYS[2] the claims hash, KEYS[3] (optional) a counter
-- to add the removed entries to (the evicted counter, for age evictions)
-- ARGV[1] the clock's shift in ms (0; see clock in lib.lua), then triples:
-- id ("" for none), exact entry, where it was seen (a position, see
-- lib.lua).
-- Returns {results, counter error}: results has one character per entry,
-- "1" removed, "0" gone already, "c" claimed; counter error is "" or the
-- error of the counter's INCRBY (the removals stand).
--[[lib]]
local claims = redis.call('EXISTS', KEYS[2]) == 1
local now = claims and clock(ARGV[1])
local out, removed = {}, 0
local k = (#ARGV - 1) / 3

-- Fast path: the entries are exactly the list's last k, oldest first (a
-- walk removing everything it reads at the tail). One LRANGE checks them,
-- one LTRIM removes them: no LREM per entry.
if not claims and k > 0 then
  local tail = redis.call('LRANGE', KEYS[1], -k, -1)
  local same = #tail == k
  for j = 1, k do
    if not same then break end
    same = ARGV[3 * j] == tail[k - j + 1]
  end
  if same then
    redis.call('LTRIM', KEYS[1], 0, -(k + 1))
    for j = 1, k do out[j] = '1' end
    removed = k
    k = 0 -- nothing left for the loop below
  end
end

for j = 2, 1 + 3 * k, 3 do
  local id, e, i = ARGV[j], ARGV[j + 1], tonumber(ARGV[j + 2])
  if claims and id ~= '' and live_claim(KEYS[2], id, now) then
    out[#out + 1] = 'c'
  elseif redis.call('LREM', KEYS[1], sign(i), e) > 0 then
    out[#out + 1] = '1'
    removed = removed + 1
    if claims and id ~= '' then redis.call('HDEL', KEYS[2], id) end
  else
    out[#out + 1] = '0'
  end
end
local cerr = ''
if KEYS[3] and removed > 0 then
  local r = redis.pcall('INCRBY', KEYS[3], removed)
  if type(r) == 'table' and r.err then cerr = r.err end
end
return {table.concat(out), cerr}
