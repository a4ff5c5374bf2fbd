-- floodgate: adjusts earlier consumption by a delta per limit (settle), or gives back a
-- reservation that the rest of its decision refused (refund).
-- KEYS: the counter hashes.
-- ARGV: [1], [2] the reserving decision's time (s, ns), so a refund never reaches into a
-- later calendar period; [3] lease id whose slots to give back, '' to leave concurrency
-- alone (settle never touches it: slots are released through leases); then the limits,
-- 8 arguments each, amount = the delta (positive charges, negative refunds).
-- Returns: now (s, us), then per limit: remaining, reset in ns.
local reserved_s = tonumber(ARGV[1])
local reserved_n = tonumber(ARGV[2])
local lease_id = ARGV[3]
local limits = parse_limits(4)
load_all(limits)

local out = { NOW_S, NOW_US }
for _, l in ipairs(limits) do
  local st = load_state(l)
  local delta = l.amount
  if delta ~= 0 and l.kind == 'r' then
    local base = occupied(st)
    if delta > 0 then
      -- a debt beyond 2^53 ns (104 days) is capped where offsets stay exact
      st.tat = math.min(base + delta * l.p1, MAX_OFFSET)
    else
      st.tat = math.max(base + delta * l.p1, 0)
    end
    store_state(l, st)
  elseif delta ~= 0 and (l.kind == 'd' or l.kind == 'm') then
    local used = used_now(st)
    if delta > 0 then
      used = used + delta
    elseif period_end(l.kind, l.p1, reserved_s, reserved_n) == l.end_now then
      used = math.max(used + delta, 0)
    end
    st.u, st.e = used, l.end_now
    store_state(l, st)
  elseif delta < 0 and l.kind == 'c' and lease_id ~= '' then
    for _, lease in ipairs(st.leases) do
      if lease.id == lease_id then lease.n = lease.n + delta end
    end
    local kept = {}
    for _, lease in ipairs(st.leases) do
      if lease.n > 0 then kept[#kept + 1] = lease end
    end
    st.leases = kept
    store_state(l, st)
  end
  local remaining, reset = status(l, st)
  out[#out + 1] = remaining
  out[#out + 1] = reset
end
flush()
return out
