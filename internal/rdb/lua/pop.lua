-- pop.lua removes one entry unless it is claimed.
-- KEYS[1] the list, KEYS[2] the claims hash (id -> "<deadline ms>:<token>")
-- ARGV[1] id, ARGV[2] the id's UUIDv7 time in ms or -1, ARGV[3] the clock's
-- shift in ms (0; see clock in lib.lua),
-- ARGV[4] "1" to remove a claimed entry too, ARGV[5] the exact entry or ""
-- to locate it by id and time, ARGV[6] where the entry was seen (a position,
-- see lib.lua) or "".
-- Returns {"ok", entry}, {"claimed", claim} or {"missing"}.
local id, ts, now = ARGV[1], tonumber(ARGV[2]), clock(ARGV[3])
if ARGV[4] ~= '1' then
  local c = live_claim(KEYS[2], id, now)
  if c then return {'claimed', c} end
end
local e, i, n = find(KEYS[1], id, ts, ARGV[5], ARGV[6])
if not e then return {'missing'} end
if redis.call('LREM', KEYS[1], sign(i, n), e) == 0 then return {'missing'} end
redis.call('HDEL', KEYS[2], id)
return {'ok', e}
