-- floodgate: where limits stand, consuming nothing.
-- KEYS: the counter hashes (and the key's abuse hash when ARGV[1] names it).
-- ARGV: [1] index in KEYS of the abuse hash, 0 for none; then the limits, 8 arguments
-- each (amount unused).
-- Returns: now (s, us), ns left on an abuse block (-1 none), then per limit its
-- standing (two numbers, see `standing`).
local abuse_at = ARGV[1] + 0
local limits = parse_limits(2)
load_all(limits)

local blocked = -1
if abuse_at > 0 then blocked = blocked_for(KEYS[abuse_at]) end

local out = { NOW_S, NOW_US, blocked }
local n = 3
for _, l in ipairs(limits) do
  local a, b = standing(l)
  out[n + 1], out[n + 2] = a, b
  n = n + 2
end
return out
