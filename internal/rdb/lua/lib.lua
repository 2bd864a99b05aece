-- lib.lua: helpers, put where a script of the package has a line --[[lib]]
-- (scripts.go).
-- It touches no keys of its own; the scripts pass theirs in.
--
-- The budget. A script is one command: while it runs, every other client
-- of Redis waits. So each script bounds its work, whatever the list holds
-- and whatever others did a moment ago:
--  * max_bytes: the bytes of entries it copies into Lua (LINDEX, LRANGE);
--  * max_work: the list entries it makes Redis compare or walk, in units
--    of one LPOS/LREM comparison (about 50 ns); walking the list to an
--    index (LINDEX, LSET) costs about one unit per 64 entries passed.
-- Work past the budget is left for the next call (the scripts say how far
-- they got) or answered "not found".
local max_bytes = 1048576
local max_work = 30000

-- ts_of returns the unix milliseconds carried by the UUIDv7 id at the start
-- of an entry ({"id":"<uuid>",... as this library writes it, or
-- {"id": "<uuid>",... as Python's json.dumps does), or nil for any other
-- entry (another layout, or an id without a time).
local function ts_of(e)
  if not e then return nil end
  local o
  if string.sub(e, 1, 7) == '{"id":"' then o = 7
  elseif string.sub(e, 1, 8) == '{"id": "' then o = 8
  else return nil end
  if string.sub(e, o + 15, o + 15) ~= '7' or string.sub(e, o + 9, o + 9) ~= '-'
    or string.sub(e, o + 37, o + 37) ~= '"' then
    return nil
  end
  return tonumber(string.sub(e, o + 1, o + 8) .. string.sub(e, o + 10, o + 13), 16)
end

-- has_id reports whether entry e starts with the id key and this id, in
-- either layout ts_of reads.
local function has_id(e, id)
  return e and (string.sub(e, 1, 8 + #id) == '{"id":"' .. id .. '"'
    or string.sub(e, 1, 9 + #id) == '{"id": "' .. id .. '"')
end

-- clock returns the Redis server's time in ms. Claims are stamped and
-- judged by this one clock, so processes whose clocks disagree still agree
-- on claims.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- deadline_of reads the deadline (unix ms) of a claim "<deadline>:<token>",
-- 1 to 15 digits (as ClaimDeadline in ops.go reads it); a value in any
-- other form counts as expired.
local function deadline_of(c)
  if not c then return nil end
  local d = string.match(c, '^(%d+):')
  if not d or #d > 15 then return 0 end
  return tonumber(d) or 0
end

-- token_of returns the token of a claim, or nil.
local function token_of(c)
  if not c then return nil end
  return string.match(c, '^%d+:(.*)$')
end

-- live_claim returns the claim on id if it has not expired at now.
local function live_claim(claims, id, now)
  local c = redis.call('HGET', claims, id)
  if c and deadline_of(c) > now then return c end
  return nil
end

-- Positions are list indexes as LRANGE takes them: from the head (0 is the
-- newest) or, negative, from the tail (-1 is the oldest). Go names entries
-- from the nearer end. They are hints: others push, pop and trim
-- meanwhile. An entry named from the tail moves away from it only when
-- others RPUSH; one named from the head, with every push.
local tail_slack = 64
local head_slack = 1024

-- dist is how many entries lie between position p and its end.
local function dist(p)
  if p < 0 then return -p - 1 end
  return p
end

-- walk_cost is the work of reaching position p by index.
local function walk_cost(p)
  return math.floor(dist(p) / 64) + 1
end

-- pushed is how many entries were pushed at the head since a position
-- was read from a list of n0 entries (0: not known), as far as the length
-- n tells: removals meanwhile hide some.
local function pushed(n, n0)
  if not n0 or n0 <= 0 or n <= n0 then return 0 end
  return n - n0
end

-- exact_cost is the most work exact spends on an entry seen at p.
local function exact_cost(p, n, n0)
  if p < 0 then return walk_cost(p) + dist(p) + tail_slack end
  local q = p + pushed(n, n0)
  return 2 * walk_cost(q) + q + head_slack
end

-- exact returns the index from the head of the exact entry e of list key
-- (of n entries), seen at position p when the list held n0 entries (0: not
-- known), or nil: LINDEX where it should be now (an entry named from the
-- head moves with each push: a burst of pushes since it was read moves it
-- by as many), then at p, then LPOS from p's end, no further than its
-- distance, the pushes and the slack. Its work is at most exact_cost,
-- whether or not the entry is still there.
local function exact(key, e, p, n, n0)
  local up = 0
  if p >= 0 then up = pushed(n, n0) end
  if redis.call('LINDEX', key, p + up) == e then
    if p < 0 then return n + p end
    return p + up
  end
  if up > 0 and redis.call('LINDEX', key, p) == e then return p end
  local i
  if p < 0 then
    i = redis.call('LPOS', key, e, 'RANK', -1, 'MAXLEN', dist(p) + 1 + tail_slack)
  else
    i = redis.call('LPOS', key, e, 'MAXLEN', p + up + 1 + head_slack)
  end
  return i or nil
end

-- position returns the way to name index i (from the head) of a list of n
-- entries that moves least: from the nearer end.
local function position(i, n)
  if i * 2 < n then return i end
  return i - n
end

-- drop removes the entries at the given indexes (from the head, each
-- once, all of list key of n entries) at a cost bounded by the farthest
-- one's distance from its end: the last k entries with one LTRIM; else
-- each is overwritten with a mark (LSET) and the marks are removed with
-- one LREM from each end, which compares no further than the farthest
-- mark on its side. When Redis refuses LSET (out of memory: LSET may grow
-- it), each entry is removed with LREM from its nearer end. It returns
-- the number removed.
local function drop(key, idx, raws, n, token)
  local k = #idx
  if k == 0 then return 0 end
  table.sort(idx)
  if idx[1] == n - k and idx[k] == n - 1 then
    redis.call('LTRIM', key, 0, -(k + 1))
    return k
  end
  local mark = '\0dlq:removed:' .. token .. '\0'
  local heads, tails = 0, 0
  for j = 1, k do
    local r = redis.pcall('LSET', key, idx[j], mark)
    if type(r) == 'table' and r.err then
      -- Out of memory: remove one by one (LREM frees, so Redis runs it).
      local removed = 0
      if heads + tails > 0 then
        removed = redis.call('LREM', key, heads, mark) + redis.call('LREM', key, -tails, mark)
      end
      for q = j, k do
        local p = position(idx[q] - removed, n - removed)
        local c = 1
        if p < 0 then c = -1 end
        removed = removed + redis.call('LREM', key, c, raws[q])
      end
      return removed
    end
    if idx[j] * 2 < n then heads = heads + 1 else tails = tails + 1 end
  end
  local removed = 0
  if heads > 0 then removed = removed + redis.call('LREM', key, heads, mark) end
  if tails > 0 then removed = removed + redis.call('LREM', key, -tails, mark) end
  return removed
end

-- drop_cost is the work drop spends on entries at these indexes.
local function drop_cost(far)
  return far + 1
end

-- locate finds the entry with the given UUIDv7 id, whose time is ts,
-- without reading the list: the two ends first, then a binary search on
-- the entries' times (the list is in push order, newest first), then the
-- entries around the place found, outward, while their times are within
-- five minutes of ts (entries of processes whose clocks disagree sit a
-- little away from their time's place), at most 1,024 entries and
-- max_bytes in all. It returns the entry and its position, or nil and
-- whether the id may be elsewhere, in a layout it does not read: the
-- entries whose time it cannot read (another program's) left no time to
-- search by, or an entry around the place holds the quoted id but does not
-- start with it. Other programs' entries among ours do not: each entry
-- around the place is searched for the quoted id whatever its layout, and
-- an entry pushed at the id's time sits there, theirs as ours. A bounded
-- search, never a scan.
local window_entries = 1024
local window_ms = 5 * 60 * 1000
local function locate(key, id, ts, n)
  if n == 0 then return nil end
  local bytes = 0
  local foreign = false
  -- big is the largest entry read so far: every read is sized by it, not
  -- by the head's (small entries at the head say nothing of a band of
  -- 64 KiB ones further on).
  local big = 1
  local function get(i)
    local e = redis.call('LINDEX', key, i)
    if e then
      bytes = bytes + #e
      big = math.max(big, #e)
    end
    return e
  end
  local head = get(0)
  if has_id(head, id) then return head, 0 end
  if n > 1 then
    local tail = get(-1)
    if has_id(tail, id) then return tail, -1 end
  end
  -- The time at index i: the median of the times of the entries from i
  -- on (as many as fit 64 KB, at most 8), so that a few entries of a
  -- process whose clock is off, or of another program (no time), do not
  -- send the search astray; nil if none of them carries a time.
  local function time_at(i)
    local width = math.max(1, math.min(8, math.floor(65536 / big)))
    local got = redis.call('LRANGE', key, i, i + width - 1)
    local ts_ = {}
    for j = 1, #got do
      bytes = bytes + #got[j]
      big = math.max(big, #got[j])
      local t = ts_of(got[j])
      if t then ts_[#ts_ + 1] = t end
    end
    if #ts_ == 0 then return nil end
    table.sort(ts_)
    return ts_[math.floor((#ts_ + 1) / 2)]
  end
  -- The first index whose time is at or before ts. The ends' times are
  -- not trusted: one entry from a clock an hour off must not send every
  -- search there.
  local lo, hi = 0, n - 1
  while lo < hi and bytes < max_bytes do
    local mid = math.floor((lo + hi) / 2)
    local t = time_at(mid)
    if not t then
      foreign = true -- no time to search by
      break
    end
    if t > ts then lo = mid + 1 else hi = mid end
  end
  -- Outward from lo: chunks toward the head and toward the tail in turn.
  local up, down = lo - 1, lo -- next index to read on each side
  local up_open, down_open = true, true
  local far_run = {0, 0} -- entries met in a row, on each side, whose time is far from ts
  local seen = 0
  -- Chunks of up to 32 entries, fewer when entries are big (one chunk
  -- copies about 128 KB at most, at the size of the largest entry read
  -- so far); the window gets what the search left
  -- of the bytes, and at least 256 KB. Each entry is searched for the
  -- quoted id in C (string.find, no copy); only a chunk's first and last
  -- entries have their times read.
  local quoted = '"' .. id .. '"'
  local limit = math.max(bytes + 262144, max_bytes)
  while (up_open or down_open) and seen < window_entries and bytes < limit do
    for side = 1, 2 do
      local a, b
      local chunk = math.max(1, math.min(32, math.floor(131072 / big)))
      if side == 1 and down_open then
        a, b = down, math.min(down + chunk - 1, n - 1)
        down = b + 1
        if a > b then down_open = false end
      elseif side == 2 and up_open then
        a, b = math.max(up - chunk + 1, 0), up
        up = a - 1
        if a > b then up_open = false end
      end
      if a and a <= b then
        local got = redis.call('LRANGE', key, a, b)
        for j = 1, #got do
          local e = got[j]
          bytes = bytes + #e
          big = math.max(big, #e)
          if string.find(e, quoted, 1, true) then
            if has_id(e, id) then return e, position(a + j - 1, n) end
            foreign = true -- the id in another layout, or quoted in another entry
          end
        end
        seen = seen + #got
        local t1, t2 = ts_of(got[1]), ts_of(got[#got])
        if t1 and t2 and math.abs(t1 - ts) > window_ms and math.abs(t2 - ts) > window_ms then
          far_run[side] = far_run[side] + #got
        else
          far_run[side] = 0
        end
        -- 256 entries in a row far from ts: this side has left the time.
        if far_run[side] >= 256 then
          if side == 1 then down_open = false else up_open = false end
        end
        if side == 1 and down > n - 1 then down_open = false end
        if side == 2 and up < 0 then up_open = false end
      end
    end
  end
  return nil, foreign
end

-- find returns the entry to act on and its position: the exact entry raw
-- if given (seen at position hint; see exact), or the entry with this id
-- found by locate. When it finds none, its second result says whether
-- locate met entries it could not read the time of.
local function find(key, id, ts, raw, hint)
  local n = redis.call('LLEN', key)
  if n == 0 then return nil end
  if raw == '' then
    if ts < 0 then return nil end
    return locate(key, id, ts, n)
  end
  local i = exact(key, raw, tonumber(hint), n, 0)
  if i then return raw, position(i, n) end
  return nil
end
