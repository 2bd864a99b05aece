-- lib.lua: helpers, put where a script of the package has a line --[[lib]]
-- (scripts.go).
-- It touches no keys of its own; the scripts pass theirs in.

-- ts_of returns the unix milliseconds carried by the UUIDv7 id at the start
-- of an entry this library wrote ({"id":"<uuid>",...), or nil for any other
-- entry (another program's, or a UUIDv4 id).
local function ts_of(e)
  if not e or string.sub(e, 1, 7) ~= '{"id":"' or string.sub(e, 22, 22) ~= '7'
    or string.sub(e, 16, 16) ~= '-' or string.sub(e, 44, 44) ~= '"' then
    return nil
  end
  return tonumber(string.sub(e, 8, 15) .. string.sub(e, 17, 20), 16)
end

-- clock returns the Redis server's time in ms, plus shift ms (a hook for
-- tests; 0 in use). Claims are stamped and judged by this one clock, so
-- processes whose clocks disagree still agree on claims.
local function clock(shift)
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(shift)
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

-- live_claim returns the claim on id if it has not expired at now.
local function live_claim(claims, id, now)
  local c = redis.call('HGET', claims, id)
  if c and deadline_of(c) > now then return c end
  return nil
end

-- Positions are list indexes as LRANGE takes them: from the head (0 is the
-- newest) or, negative, from the tail (-1 is the oldest). Go passes entries
-- near the tail by their distance from it, which pushes at the head do not
-- change. They are hints: others push, pop and trim meanwhile.

-- head_index turns a position into an index from the head, in 0..n-1.
local function head_index(i, n)
  if i < 0 then i = n + i end
  return math.max(0, math.min(i, n - 1))
end

-- position returns the way to name index i (from the head) of a list of n
-- entries that moves least: from the nearer end.
local function position(i, n)
  if i * 2 < n then return i end
  return i - n
end

-- sign is the LREM count that scans from the end position p is named
-- from: 1 from the head, -1 from the tail. (Any count of magnitude 1
-- removes the entry; the right one finds it without a long scan.)
local function sign(p)
  if p >= 0 then return 1 end
  return -1
end

-- window is how far around a position the scripts look for an entry.
local window = 64

-- find_near returns the index of entry e in list key within the window
-- around index i, or nil.
local function find_near(key, e, i, n)
  local a = math.max(0, i - window)
  local b = math.min(n - 1, i + window)
  if a > b then return nil end
  local got = redis.call('LRANGE', key, a, b)
  for j = 1, #got do
    if got[j] == e then return a + j - 1 end
  end
  return nil
end

-- around returns the first entry within w of position p (named from the
-- head, or from the tail if negative) that starts with prefix, and its
-- position, named from the same end as p; or nil.
local function around(key, prefix, p, w)
  local a, b = math.max(0, p - w), p + w
  if p < 0 then a, b = p - w, math.min(-1, p + w) end
  local got = redis.call('LRANGE', key, a, b)
  for j = 1, #got do
    if string.sub(got[j], 1, #prefix) == prefix then
      if p < 0 then return got[j], b - (#got - j) end
      return got[j], a + j - 1
    end
  end
  return nil
end

-- locate finds the entry this library wrote with the given id, whose UUIDv7
-- carries time ts, without reading the list: a look at both ends first (a
-- pop of the newest or the oldest entry costs one or two LINDEX), then a
-- binary search on the ids' times (the list is in push order, newest first)
-- and a look at the windows around the place found. It returns the entry
-- and its position (see above), or nil when the entry is not where its time
-- says (the caller then scans). head and tail are the list's first and last
-- entries if the caller read them already (false: the list is empty), nil
-- if not.
local function locate(key, id, ts, head, tail)
  local prefix = '{"id":"' .. id .. '"'
  if head == nil then head = redis.call('LINDEX', key, 0) end
  if not head then return nil end
  if string.sub(head, 1, #prefix) == prefix then return head, 0 end
  local probed = {} -- index -> entry (false past the end), read once
  local function get(i)
    local e = probed[i]
    if e == nil then
      e = redis.call('LINDEX', key, i)
      probed[i] = e
    end
    return e
  end
  local function at(i)
    -- the time at index i, or at the nearest entry within 64 after or
    -- before it that carries one (other programs' entries carry none)
    local t = ts_of(get(i))
    if t then return t end
    local got = redis.call('LRANGE', key, i + 1, i + 64)
    for j = 1, #got do
      t = ts_of(got[j])
      if t then return t end
    end
    got = redis.call('LRANGE', key, math.max(0, i - 64), i - 1)
    for j = #got, 1, -1 do
      t = ts_of(got[j])
      if t then return t end
    end
    return nil
  end
  probed[0] = head
  local p -- where to look: a position
  local t = at(0)
  if t and ts >= t then p = 0 end
  if not p then
    if tail == nil then tail = redis.call('LINDEX', key, -1) end
    if tail and string.sub(tail, 1, #prefix) == prefix then return tail, -1 end
    t = ts_of(tail)
    if t and ts <= t then p = -1 end
  end
  if not p then
    local n = redis.call('LLEN', key)
    local lo, hi = 0, n - 1
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      t = at(mid)
      if not t then return nil end
      if t > ts then lo = mid + 1 else hi = mid end
    end
    p = position(lo, n)
    local e = get(lo)
    if e and string.sub(e, 1, #prefix) == prefix then return e, p end
  end
  -- Not right there: the window, then a wider one. Entries pushed by a
  -- process whose clock is off by a little, or in the same millisecond as
  -- others, sit a little away from their time's place.
  for _, w in ipairs({window, 16 * window}) do
    local e, q = around(key, prefix, p, w)
    if e then return e, q end
  end
  return nil
end

-- drift bounds how far an entry named by its distance from the tail is
-- looked for beyond that distance: it moves away from the tail only when
-- others RPUSH (pops, trims and removals bring it nearer), so an entry not
-- within drift of its place is gone.
local drift = 2048

-- find returns the entry to act on and its position (see above): the exact
-- entry raw if given (checked at the position hint, else with LPOS from
-- that end), or the entry with this id found by locate (given head and
-- tail, as locate takes them).
local function find(key, id, ts, raw, hint, head, tail)
  if raw == '' then
    if ts < 0 then return nil end
    return locate(key, id, ts, head, tail)
  end
  if hint ~= '' then
    -- Where it was seen: one LINDEX, without reading the length.
    local p = tonumber(hint)
    if redis.call('LINDEX', key, p) == raw then return raw, p end
  end
  local n = redis.call('LLEN', key)
  if n == 0 then return nil end
  local i
  if hint == '' then
    i = redis.call('LPOS', key, raw)
  else
    -- Near an end, LPOS from that end (it compares in C, without copying
    -- entries into the script; it answers an index from the head); else
    -- the window around it; else LPOS.
    local p = tonumber(hint)
    if p < 0 and -p <= 4 * drift then
      i = redis.call('LPOS', key, raw, 'RANK', -1, 'MAXLEN', -p + drift)
    else
      i = find_near(key, raw, head_index(p, n), n)
      if not i and p < 0 then
        i = redis.call('LPOS', key, raw, 'RANK', -1, 'MAXLEN', -p + drift)
      elseif not i then
        i = redis.call('LPOS', key, raw)
      end
    end
  end
  if i then return raw, position(i, n) end
  return nil
end
