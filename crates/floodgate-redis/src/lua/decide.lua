-- floodgate: one all-or-nothing decision over the limits of one hash slot.
-- KEYS: the counter hashes (and the key's abuse hash when ARGV[3] names it).
-- ARGV: [1] '1' to consume when everything fits, '0' to only check (an earlier part of
-- the decision was already refused); [2] lease id; [3] index in KEYS of the abuse hash,
-- 0 for none; then, from LIMITS_AT, the limits, 8 arguments each, amount = the
-- request's cost.
-- Returns: now (s, us), 1 if consumed, ns left on an abuse block (-1 none), then per
-- limit: its check (-1 fits, -2 never, else the wait in ns) and its standing (two
-- numbers, see `standing`).

-- the longest a concurrency limit tells a refused request to wait
local CONCURRENCY_RETRY_CAP = E9

-- -1 when `cost` fits, -2 when it never can, else the wait in ns
local function check(l, cost)
  local kind = l.kind
  if kind == 'r' then
    if cost > l.max then return -2 end
    local after = l.tat + cost * l.p1
    if after <= l.p2 then return -1 end
    return after - l.p2
  elseif kind == 'c' then
    if cost == 0 then return -1 end
    if cost > l.max then return -2 end
    local live, first = lease_standing(l)
    if live + cost <= l.max then return -1 end
    return min(first or 0, CONCURRENCY_RETRY_CAP)
  end
  if cost > l.max then return -2 end
  if l.u + cost <= l.max then return -1 end
  return l.end_now
end

-- takes `cost` from a counter already checked to fit
local function consume(l, cost, lease_id)
  local kind = l.kind
  if kind == 'r' then
    l.tat = l.tat + cost * l.p1
  elseif kind == 'c' then
    purge(l)
    for _, lease in ipairs(l.leases) do
      if lease.id == lease_id then
        lease.n = lease.n + cost
        lease.x = l.p1
        return
      end
    end
    l.leases[#l.leases + 1] = { id = lease_id, n = cost, x = l.p1 }
  else
    l.u = l.u + cost
  end
end

local consume_ok = ARGV[1] == '1'
local lease_id = ARGV[2]
local abuse_at = tonumber(ARGV[3])
local LIMITS_AT = 4
-- Admin guard: when the caller passes one more argument after the limits
-- ((#ARGV - 3) % 8 == 1), it resolved them under that generation of the account's admin
-- records, whose hash is KEYS[#KEYS]; another generation there means they are stale:
-- nothing is consumed and the reply is {-1}.
if (#ARGV - 3) % 8 == 1 and (redis.call('HGET', KEYS[#KEYS], 'g') or '0') ~= ARGV[#ARGV] then
  return { -1 }
end

local limits = parse_limits(LIMITS_AT)
load_all(limits)

local blocked = -1
if abuse_at > 0 then blocked = blocked_for(KEYS[abuse_at]) end

local count = #limits
local fits = blocked < 0
for i = 1, count do
  local l = limits[i]
  local c = check(l, l.amount)
  l.check = c
  if c ~= -1 and not l.shadow then fits = false end
end

local consumed = consume_ok and fits
if consumed then
  for i = 1, count do
    local l = limits[i]
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
for i = 1, count do
  local l = limits[i]
  local a, b = standing(l)
  out[n + 1], out[n + 2], out[n + 3] = l.check, a, b
  n = n + 3
end
return out
