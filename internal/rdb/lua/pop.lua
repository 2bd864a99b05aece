-- pop.lua removes one entry unless it is claimed.
-- KEYS[1] the list, KEYS[2] the claims hash (id -> "<deadline ms>:<token>"),
-- KEYS[3] the audit stream
-- ARGV[1] id, ARGV[2] the id's UUIDv7 time in ms or -1, ARGV[3] "1" to
-- remove a claimed entry too, ARGV[4] the exact entry or "" to locate it
-- by id and time, ARGV[5] where the entry was seen (a position, see
-- lib.lua) or "", ARGV[6] the audit stream's bound (0: no record), then
-- the audit record's fields and values.
-- Returns {"ok", entry, audit error}, {"claimed", claim} or {"missing"}.
-- Its work is bounded (see lib.lua): a missing entry costs a bounded
-- search. The audit record is written with the removal, in this script;
-- when Redis refuses it (out of memory) the removal stands and the error
-- is returned.
local id, ts = ARGV[1], tonumber(ARGV[2])

local function record()
  local limit = tonumber(ARGV[6])
  if not limit or limit <= 0 then return '' end
  local r = redis.pcall('XADD', KEYS[3], 'MAXLEN', '~', limit, '*', unpack(ARGV, 7))
  if type(r) == 'table' and r.err then return r.err end
  return ''
end
local c = redis.call('HGET', KEYS[2], id)

-- The common case comes before lib.lua's functions are defined, which
-- costs about as much as a command: an entry without a claim, this
-- library's, at either end of the list (HGET, one or two LINDEX, LREM).
if not c and ARGV[4] == '' and ts >= 0 then
  local prefix = '{"id":"' .. id .. '"'
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then return {'missing'} end
  if string.sub(head, 1, #prefix) == prefix then
    redis.call('LREM', KEYS[1], 1, head)
    return {'ok', head, record()}
  end
  local tail = redis.call('LINDEX', KEYS[1], -1)
  if string.sub(tail, 1, #prefix) == prefix then
    redis.call('LREM', KEYS[1], -1, tail)
    return {'ok', tail, record()}
  end
end

--[[lib]]

if c and ARGV[3] ~= '1' and deadline_of(c) > clock() then return {'claimed', c} end
local e, p = find(KEYS[1], id, ts, ARGV[4], ARGV[5])
if not e then return {'missing', p and 1 or 0} end
-- LREM from p's end finds e within the distance find just searched.
local count = 1
if p < 0 then count = -1 end
if redis.call('LREM', KEYS[1], count, e) == 0 then return {'missing'} end
if c then redis.call('HDEL', KEYS[2], id) end
return {'ok', e, record()}
