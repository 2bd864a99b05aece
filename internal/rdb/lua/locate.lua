-- locate.lua finds the entry with a UUIDv7 id where its time says (see
-- locate in lib.lua): a bounded search, without changing anything.
-- KEYS[1] the list
-- ARGV[1] id, ARGV[2] the id's UUIDv7 time in ms
-- Returns {entry, position} or {} when it is not there.
--[[lib]]
local e, p = find(KEYS[1], ARGV[1], tonumber(ARGV[2]), '', '')
if not e then return {false, p and 1 or 0} end
return {e, p}
