-- page.lua acts on a page of exact entries, each seen at a position (a
-- hint, see lib.lua): a bulk delete, a bulk claim, the end of retries
-- (remove, or drop the claim), an age eviction. It stops when its budget
-- (see lib.lua) would be exceeded, and says how far it got: the caller
-- sends the rest in another call. It removes with LTRIM, LREM and (when
-- Redis lets it) LSET, and drops claims with HDEL, so removals work when
-- Redis is out of memory.
-- KEYS[1] the list, KEYS[2] the claims hash, KEYS[3] the evicted counter,
-- KEYS[4] the audit stream
-- ARGV[1] the claim timeout in ms (claims are stamped and judged by the
-- Redis server's clock, see clock in lib.lua), ARGV[2] a token (of the
-- claims this call stamps, and of those it ends), ARGV[3] "1" to add the
-- removed entries to the evicted counter (age evictions), ARGV[4] the
-- audit stream's bound (0: no record), ARGV[5] the number F of the audit
-- record's fields and values that follow, then those, then quintuples:
-- action, id ("" for none), exact entry, position, the list's length when
-- the position was read (0 if not known). Actions:
--   d  delete, unless a live claim holds it
--   c  claim for the token, unless a live claim holds it
--   a  acknowledge a retry: remove, and drop the claim if it is the token's
--      (an entry not found keeps its claim: "0", see below)
--   r  release: drop the claim if it is the token's (the entry stays)
-- The audit record (one for the call: the end of a single retry) is
-- written in this script, with the change; Redis refusing it (out of
-- memory) does not undo the change.
-- Returns {results, now, deadline, counter error, length, audit error}:
-- results has one
-- character per entry acted on, in order ("1" done, "0" gone already or
-- not the token's claim, "c" claimed by another, "m" out of memory), and
-- may be shorter than the page; counter error is "" or the error of the
-- counter's INCRBY (the removals stand).
--[[lib]]
local n = redis.call('LLEN', KEYS[1])
local has_claims = redis.call('EXISTS', KEYS[2]) == 1
local now = clock()
local deadline = now + tonumber(ARGV[1])
local token = ARGV[2]
local out, idx, raws, taken = {}, {}, {}, {}
local work, far = 0, 0
local bytes = 0
local nf = tonumber(ARGV[5])

-- The tail's stretch: when the targets named from the tail lie within
-- 2,048 entries of it and those entries fit half the byte budget, it is
-- read from the tail and each target is looked up in a table: a page that
-- another caller removed a moment ago costs a few reads, not one LPOS
-- each. The entries between the targets may be far bigger than the
-- targets (64 KiB error pages that did not match), so the stretch is read
-- in chunks sized by the bytes per entry read so far, and given up (the
-- targets are then looked for one by one) once it passes half the budget.
local region -- entry -> its head indexes in the stretch, ascending
do
  local reach, size, count = -1, 0, 0
  for j = 6 + nf, #ARGV, 5 do
    local p = tonumber(ARGV[j + 3])
    if ARGV[j] ~= 'r' and p < 0 then
      reach = math.max(reach, dist(p) + tail_slack)
      size, count = size + #ARGV[j + 2], count + 1
    end
  end
  if count > 1 and reach < 2048 and (size / count) * (reach + 1) <= max_bytes / 2 then
    local want = math.min(reach + 1, n)
    local chunks, got_n, rbytes, step = {}, 0, 0, 8
    while got_n < want and rbytes <= max_bytes / 2 do
      local k = math.min(step, want - got_n)
      local got = redis.call('LRANGE', KEYS[1], -(got_n + k), -(got_n + 1))
      for q = 1, #got do rbytes = rbytes + #got[q] end
      chunks[#chunks + 1] = {got_n, got} -- the tail distance of its last entry, its entries
      got_n = got_n + #got
      work = work + #got + walk_cost(-got_n)
      if #got < k then break end
      local avg = math.max(1, math.floor(rbytes / got_n))
      step = math.max(1, math.min(512, math.floor((max_bytes / 2 - rbytes) / avg)))
    end
    bytes = bytes + rbytes
    if rbytes <= max_bytes / 2 then
      region = {}
      for c = #chunks, 1, -1 do -- the farthest from the tail first: head indexes ascend
        local d, got = chunks[c][1], chunks[c][2]
        for q = 1, #got do
          local e = got[q]
          local t = region[e]
          if not t then
            t = {}
            region[e] = t
          end
          t[#t + 1] = n - 1 - d - (#got - q)
        end
      end
    end
  end
end

-- find_target is exact, or a look-up in the tail's stretch.
local function find_target(e, p, n0)
  if region and p < 0 then
    local t = region[e]
    if t then
      for q = #t, 1, -1 do -- the copy nearest the tail first, as LPOS RANK -1
        if not taken[t[q]] then return t[q] end
      end
    end
    return nil
  end
  local i = exact(KEYS[1], e, p, n, n0)
  if i and taken[i] then return nil end -- a copy this call already took
  return i
end

for j = 6 + nf, #ARGV, 5 do
  local a, id, e, p, n0 = ARGV[j], ARGV[j + 1], ARGV[j + 2], tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4])
  local cost = 1
  if a ~= 'r' and not (region and p < 0) then cost = exact_cost(p, n, n0) end
  if #out > 0 and (work + cost + drop_cost(math.max(far, dist(p))) > max_work
      or bytes + #e > max_bytes) then
    break
  end
  work, bytes = work + cost, bytes + #e
  local r = '0'
  if a == 'r' then
    local cl = redis.call('HGET', KEYS[2], id)
    if cl and token_of(cl) == token then
      redis.call('HDEL', KEYS[2], id)
      r = '1'
    end
  elseif (a == 'd' or a == 'c') and has_claims and id ~= '' and live_claim(KEYS[2], id, now) then
    r = 'c'
  else
    local i = find_target(e, p, n0)
    if i and a == 'c' then
      local h = redis.pcall('HSET', KEYS[2], id, deadline .. ':' .. token)
      if type(h) == 'table' and h.err then
        r = 'm'
      else
        has_claims, r = true, '1'
      end
    elseif i then
      taken[i] = true
      idx[#idx + 1], raws[#raws + 1] = i, e
      far = math.max(far, math.min(i, n - 1 - i))
      r = '1'
      if a == 'a' then
        local cl = redis.call('HGET', KEYS[2], id)
        if cl and token_of(cl) == token then redis.call('HDEL', KEYS[2], id) end
      elseif has_claims and id ~= '' then
        redis.call('HDEL', KEYS[2], id) -- an expired claim
      end
    end
    -- An ack that does not find its entry keeps the claim: the entry may
    -- have moved beyond the look (a list at its cap does not grow while
    -- others push), and the caller looks for it by id before it drops the
    -- claim.
  end
  out[#out + 1] = r
end
-- raws in the order drop sorts idx
local order = {}
for j = 1, #idx do order[j] = j end
table.sort(order, function(x, y) return idx[x] < idx[y] end)
local sidx, sraws = {}, {}
for j = 1, #order do sidx[j], sraws[j] = idx[order[j]], raws[order[j]] end
local removed = drop(KEYS[1], sidx, sraws, n, token)
local cerr = ''
if ARGV[3] == '1' and removed > 0 then
  local r = redis.pcall('INCRBY', KEYS[3], removed)
  if type(r) == 'table' and r.err then cerr = r.err end
end
local aerr = ''
local limit = tonumber(ARGV[4])
if limit > 0 then
  local r = redis.pcall('XADD', KEYS[4], 'MAXLEN', '~', limit, '*', unpack(ARGV, 6, 5 + nf))
  if type(r) == 'table' and r.err then aerr = r.err end
end
return {table.concat(out), now, deadline, cerr, n, aerr}
