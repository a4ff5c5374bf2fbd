-- floodgate: one all-or-nothing decision over the limits of one hash slot.
-- KEYS: the counter hashes (and the key's abuse hash when ARGV[3] names it).
-- ARGV: [1] '1' to consume when everything fits, '0' to only check (an earlier part of
-- the decision was already refused); [2] lease id; [3] index in KEYS of the abuse hash,
-- 0 for none; then the limits, 8 arguments each, amount = the request's cost.
-- Returns: now (s, us), 1 if consumed, ns left on an abuse block (-1 none), then per
-- limit: its check (-1 fits, -2 never, else the wait in ns), remaining, reset in ns.
-- Admin guard: when the caller passes one more argument after the limits
-- ((#ARGV - 3) % 8 == 1), it resolved them under that generation of the account's admin
-- records, whose hash is KEYS[#KEYS]; another generation there means they are stale:
-- nothing is consumed and the reply is {-1}.
if (#ARGV - 3) % 8 == 1 and (redis.call('HGET', KEYS[#KEYS], 'g') or '0') ~= ARGV[#ARGV] then
  return { -1 }
end
local consume_ok = ARGV[1] == '1'
local lease_id = ARGV[2]
local abuse_at = tonumber(ARGV[3])
local limits = parse_limits(4)
load_all(limits)

local blocked = -1
if abuse_at > 0 then blocked = blocked_for(KEYS[abuse_at]) end

local states, checks = {}, {}
local fits = blocked < 0
for i, l in ipairs(limits) do
  states[i] = load_state(l)
  checks[i] = check(l, states[i], l.amount)
  if checks[i] ~= -1 and not l.shadow then fits = false end
end

local consumed = consume_ok and fits
if consumed then
  for i, l in ipairs(limits) do
    -- a shadowed limit that would have refused keeps tracking what it would admit
    if checks[i] == -1 and l.amount > 0 then
      consume(l, states[i], l.amount, lease_id)
      store_state(l, states[i])
    end
  end
  flush()
end

local out = { NOW_S, NOW_US, consumed and 1 or 0, blocked }
for i, l in ipairs(limits) do
  local remaining, reset = status(l, states[i])
  out[#out + 1] = checks[i]
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
return out
