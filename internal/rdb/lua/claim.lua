-- claim.lua marks one entry as claimed for a retry, in place: the entry
-- stays where it is, and the claim expires at its deadline.
-- KEYS[1] the list, KEYS[2] the claims hash (id -> "<deadline ms>:<token>")
-- ARGV[1] id, ARGV[2] the id's UUIDv7 time in ms or -1, ARGV[3] the claim
-- timeout in ms, ARGV[4] the claim's token, ARGV[5] the exact entry or ""
-- to locate it by id and time, ARGV[6] where the entry was seen (a
-- position, see lib.lua) or "".
-- Claims are stamped by the Redis server's clock (see clock in lib.lua).
-- Returns {"ok", entry, position, deadline, now, length}, {"claimed", claim},
-- {"missing"} or {"oom", error} (Redis refused the claim: out of memory).
--[[lib]]
local id, ts, now = ARGV[1], tonumber(ARGV[2]), clock()
local c = live_claim(KEYS[2], id, now)
-- A claim of this very token is this call sent again (a client retry after
-- a lost reply): go on as the first run did.
if c and token_of(c) ~= ARGV[4] then return {'claimed', c} end
local e, p = find(KEYS[1], id, ts, ARGV[5], ARGV[6])
if not e then return {'missing', p and 1 or 0} end
local deadline = now + tonumber(ARGV[3])
local r = redis.pcall('HSET', KEYS[2], id, deadline .. ':' .. ARGV[4])
if type(r) == 'table' and r.err then return {'oom', r.err} end
return {'ok', e, p, deadline, now, redis.call('LLEN', KEYS[1])}
