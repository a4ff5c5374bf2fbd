-- floodgate: one all-or-nothing decision over the limits of one hash slot.
-- KEYS: the counter hashes (and the key's abuse hash when ARGV[3] names it).
-- ARGV: [1] '1' to consume when everything fits, '0' to only check (an earlier part of
-- the decision was already refused); [2] lease id; [3] index in KEYS of the abuse hash,
-- 0 for none; then, from LIMITS_AT, the limits, 8 arguments each, amount = the
-- request's cost.
-- Returns: now (s, us), 1 if consumed, ns left on an abuse block (-1 none), then per
-- limit: its check (-1 fits, -2 never, else the wait in ns) and its standing (two
-- numbers, see `standing`).
local consume_ok = ARGV[1] == '1'
local lease_id = ARGV[2]
local abuse_at = tonumber(ARGV[3])
local LIMITS_AT = 4
-- Anything that must refuse a decision before a counter is read (and so consume
-- nothing) goes here, between the arguments above and the first HMGET below.

local limits = parse_limits(LIMITS_AT)
load_all(limits)

local blocked = -1
if abuse_at > 0 then blocked = blocked_for(KEYS[abuse_at]) end

local fits = blocked < 0
for _, l in ipairs(limits) do
  local c = check(l, l.amount)
  l.check = c
  if c ~= -1 and not l.shadow then fits = false end
end

local consumed = consume_ok and fits
if consumed then
  for _, l in ipairs(limits) do
    -- a shadowed limit that would have refused keeps tracking what it would admit
    if l.check == -1 and l.amount > 0 then
      consume(l, l.amount, lease_id)
      store_state(l)
    end
  end
  flush()
end

local out = { NOW_S, NOW_US, consumed and 1 or 0, blocked }
local n = 4
for _, l in ipairs(limits) do
  local a, b = standing(l)
  out[n + 1], out[n + 2], out[n + 3] = l.check, a, b
  n = n + 3
end
return out
