-- floodgate: adjusts earlier consumption by a delta per limit (settle), or gives back a
-- reservation that the rest of its decision refused (refund).
-- KEYS: the counter hashes.
-- ARGV: [1], [2] the reserving decision's time (s, ns), so a refund never reaches into a
-- later calendar period; [3] lease id whose slots to give back, '' to leave concurrency
-- alone (settle never touches it: slots are released through leases); then the limits,
-- 8 arguments each, amount = the delta (positive charges, negative refunds).
-- Returns: now (s, us), then per limit its standing (two numbers, see `standing`).
local reserved_s = ARGV[1] + 0
local reserved_n = ARGV[2] + 0
local lease_id = ARGV[3]
local limits = parse_limits(4)
load_all(limits)

local out = { NOW_S, NOW_US }
local n = 2
for _, l in ipairs(limits) do
  local delta = l.amount
  if delta ~= 0 and l.kind == 'r' then
    if delta > 0 then
      -- a debt beyond 2^53 ns (104 days) is capped where offsets stay exact
      l.tat = min(l.tat + delta * l.p1, MAX_OFFSET)
    else
      l.tat = max(l.tat + delta * l.p1, 0)
    end
    store_state(l)
  elseif delta ~= 0 and (l.kind == 'd' or l.kind == 'm') then
    if delta > 0 then
      l.u = l.u + delta
    elseif period_end(l.kind, l.p1, reserved_s, reserved_n) == l.end_now then
      l.u = max(l.u + delta, 0)
    end
    store_state(l)
  elseif delta < 0 and l.kind == 'c' and lease_id ~= '' then
    local kept = {}
    for _, lease in ipairs(l.leases) do
      if lease.id == lease_id then lease.n = lease.n + delta end
      if lease.n > 0 then kept[#kept + 1] = lease end
    end
    l.leases = kept
    store_state(l)
  end
  local a, b = standing(l)
  out[n + 1], out[n + 2] = a, b
  n = n + 2
end
flush()
return out
