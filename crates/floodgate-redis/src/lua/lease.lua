-- floodgate: renews or releases one lease on concurrency limits.
-- KEYS: the counter hashes.
-- ARGV: [1] 'renew' or 'release'; [2] lease id; then the concurrency limits, 8 arguments
-- each (p1 = the lease TTL in ns).
-- Returns 1 if the lease was held on any of them, else 0.
local renew = ARGV[1] == 'renew'
local lease_id = ARGV[2]
local limits = parse_limits(3)
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
