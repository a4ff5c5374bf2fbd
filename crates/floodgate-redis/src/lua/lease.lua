-- floodgate: renews, releases or transfers one lease on concurrency limits.
-- KEYS: the counter hashes.
-- ARGV: [1] 'renew', 'release' or 'transfer'; [2] lease id; [3] the id a transfer hands
-- the slots to ('' otherwise); then the concurrency limits, 8 arguments each (p1 = the
-- lease TTL in ns).
-- Returns 1 if the lease was held on any of them, else 0.
local renew = ARGV[1] == 'renew'
local transfer = ARGV[1] == 'transfer'
local lease_id = ARGV[2]
local to_id = ARGV[3]
local limits = parse_limits(4)
load_all(limits)

local held = false
for _, l in ipairs(limits) do
  -- an expired lease holds nothing, so renewing or releasing it finds nothing
  purge(l)
  if renew then
    for _, lease in ipairs(l.leases) do
      if lease.id == lease_id then
        lease.x = l.p1
        held = true
      end
    end
  elseif transfer then
    local kept, moved = {}, 0
    for _, lease in ipairs(l.leases) do
      if lease.id == lease_id then moved = moved + lease.n else kept[#kept + 1] = lease end
    end
    l.leases = kept
    if moved > 0 then
      held = true
      local joined = false
      for _, lease in ipairs(kept) do
        if lease.id == to_id then
          lease.n = lease.n + moved
          lease.x = l.p1
          joined = true
        end
      end
      if not joined then kept[#kept + 1] = { id = to_id, n = moved, x = l.p1 } end
    end
  else
    local kept = {}
    for _, lease in ipairs(l.leases) do
      if lease.id == lease_id then held = true else kept[#kept + 1] = lease end
    end
    l.leases = kept
  end
  store_state(l)
end
flush()
if held then return 1 end
return 0
