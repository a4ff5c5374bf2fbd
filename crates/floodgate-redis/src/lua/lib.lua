-- floodgate: shared prelude of every script (time, calendar, counters, expiry).
--
-- Lua numbers are doubles, exact only up to 2^53. Absolute times are nanoseconds since
-- the epoch (about 1.8e18), so they never become Lua numbers: they are stored as decimal
-- strings and turned into offsets from now (`rel`), which stay far below 2^53 (104 days),
-- and back (`abs`). Every rule below works on such offsets and follows floodgate_core
-- to the nanosecond, with now taken from the server's TIME.

local E9 = 1000000000
local DAY_S = 86400
local CONCURRENCY_RETRY_CAP = E9
-- A hash's expiry is pushed out only when its state would outlive it by less than
-- EXPIRY_MIN, and then to EXPIRY_SET past that state: a busy counter moves its expiry
-- once a second or so instead of on every call, and idle state lingers at most 2 s.
local EXPIRY_MIN = E9
local EXPIRY_SET = 2 * E9
-- each hash records its own expiry in this field, read with the counters in one call
local EXPIRY_FIELD = '~x'
local MAX_OFFSET = 9007199254740992

-- Standard functions as locals: a script runs its whole text on every call, and a local
-- is read straight from a register or upvalue where a global costs a table lookup (two
-- for `string.sub`); the decision script spends a good part of its time on such reads.
local tonumber, ipairs, unpack = tonumber, ipairs, unpack
local sub, find, format, match, gmatch = string.sub, string.find, string.format, string.match, string.gmatch
local concat = table.concat
local floor, ceil, min, max = math.floor, math.ceil, math.min, math.max
local call = redis.call

local clock = call('TIME')
local NOW_S = tonumber(clock[1])
local NOW_US = tonumber(clock[2])
local NOW_N = NOW_US * 1000

-- floor(a / b) for integers, exact where the quotient's double rounding is not
local function idiv(a, b)
  local q = floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

-- an absolute time stored as a decimal string of nanoseconds, as an offset from now
local function rel(text)
  local len = #text
  if len > 9 then
    return (tonumber(sub(text, 1, len - 9)) - NOW_S) * E9
      + (tonumber(sub(text, len - 8)) - NOW_N)
  end
  return -NOW_S * E9 + (tonumber(text) - NOW_N)
end

-- an offset from now as a decimal string of absolute nanoseconds
local function abs(offset)
  local t = NOW_N + offset
  local carry = idiv(t, E9)
  return format('%d%09d', NOW_S + carry, t - carry * E9)
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = idiv(y, 400)
  local yoe = y - era * 400
  local mp = m + 9
  if m > 2 then mp = m - 3 end
  local doy = idiv(153 * mp + 2, 5) + d - 1
  local doe = yoe * 365 + idiv(yoe, 4) - idiv(yoe, 100) + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = idiv(z, 146097)
  local doe = z - era * 146097
  local yoe = idiv(doe - idiv(doe, 1460) + idiv(doe, 36524) - idiv(doe, 146096), 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + idiv(yoe, 4) - idiv(yoe, 100))
  local mp = idiv(5 * doy + 2, 153)
  local d = doy - idiv(153 * mp + 2, 5) + 1
  local m = mp - 9
  if mp < 10 then m = mp + 3 end
  if m <= 2 then y = y + 1 end
  return y, m, d
end

-- end of the day ('d') or month ('m') holding the absolute time (at_s s + at_n ns),
-- whose boundary lies `offset` ns after 00:00 UTC, as an offset from now
local function period_end(kind, offset, at_s, at_n)
  offset = offset % (DAY_S * E9)
  local off_s = idiv(offset, E9)
  local off_n = offset - off_s * E9
  local s, n = at_s - off_s, at_n - off_n
  if n < 0 then s, n = s - 1, n + E9 end
  local days = idiv(s, DAY_S)
  local end_days = days + 1
  if kind == 'm' then
    local y, m = civil_from_days(days)
    if m == 12 then y, m = y + 1, 1 else m = m + 1 end
    end_days = days_from_civil(y, m, 1)
  end
  return (end_days * DAY_S + off_s - NOW_S) * E9 + (off_n - NOW_N)
end

-- limits arrive as 8 arguments each: key index, hash field, kind ('r' rolling, 'd' day,
-- 'm' month, 'c' concurrency), p1, p2, max, amount, shadow
local function parse_limits(from)
  local limits, n = {}, 0
  local argv, keys = ARGV, KEYS
  -- a day's (or month's) end is the same for every limit with the same boundary
  local ends = {}
  for i = from, #argv - 7, 8 do
    local kind = argv[i + 2]
    local l = {
      key = keys[tonumber(argv[i])], field = argv[i + 1], kind = kind,
      p1 = tonumber(argv[i + 3]), p2 = tonumber(argv[i + 4]), max = tonumber(argv[i + 5]),
      amount = tonumber(argv[i + 6]), shadow = argv[i + 7] == '1',
    }
    if kind == 'd' or kind == 'm' then
      local at = kind .. argv[i + 3]
      local e = ends[at]
      if not e then
        e = period_end(kind, l.p1, NOW_S, NOW_N)
        ends[at] = e
      end
      l.end_now = e
    end
    n = n + 1
    limits[n] = l
  end
  return limits
end

-- the hashes a script touches: their fields read in one HMGET, written in one HSET
local hashes, hash_order = {}, {}

-- reads every limit's counter (l.raw), one HMGET per hash
local function load_all(limits)
  for _, l in ipairs(limits) do
    local h = hashes[l.key]
    if not h then
      h = { fields = {}, sets = {}, dels = {}, keep = 0 }
      hashes[l.key] = h
      hash_order[#hash_order + 1] = l.key
    end
    h.fields[#h.fields + 1] = l.field
    l.at = #h.fields
  end
  for _, key in ipairs(hash_order) do
    local h = hashes[key]
    local n = #h.fields
    h.fields[n + 1] = EXPIRY_FIELD
    h.values = call('HMGET', key, unpack(h.fields))
    local expiry = h.values[n + 1]
    if expiry then h.expiry = rel(expiry) end
  end
  for _, l in ipairs(limits) do l.raw = hashes[l.key].values[l.at] end
end

-- a counter's state; an absent or unreadable one is fresh, as in floodgate_core
local function load_state(l)
  local raw = l.raw
  if l.kind == 'r' then
    if raw and find(raw, '^%d+$') then return { tat = rel(raw) } end
    return { tat = 0 }
  elseif l.kind == 'c' then
    local leases = {}
    if raw then
      for id, n, x in gmatch(raw, '([^,;]+),(%d+),(%d+)') do
        leases[#leases + 1] = { id = id, n = tonumber(n), x = rel(x) }
      end
    end
    return { leases = leases }
  end
  if raw then
    local e, u = match(raw, '^(%d+):(%d+)$')
    if e then return { e = rel(e), u = tonumber(u) } end
  end
  return { e = 0, u = 0 }
end

local function occupied(st)
  if st.tat > 0 then return st.tat end
  return 0
end

local function used_now(st)
  if st.e > 0 then return st.u end
  return 0
end

local function live_slots(st)
  local live = 0
  for _, lease in ipairs(st.leases) do
    if lease.x > 0 then live = live + lease.n end
  end
  return live
end

local function earliest_expiry(st)
  local first = nil
  for _, lease in ipairs(st.leases) do
    if lease.x > 0 and (first == nil or lease.x < first) then first = lease.x end
  end
  return first
end

local function purge(st)
  local kept = {}
  for _, lease in ipairs(st.leases) do
    if lease.x > 0 then kept[#kept + 1] = lease end
  end
  st.leases = kept
end

-- -1 when `cost` fits, -2 when it never can, else the wait in ns
local function check(l, st, cost)
  if l.kind == 'r' then
    if cost > l.max then return -2 end
    local after = occupied(st) + cost * l.p1
    if after <= l.p2 then return -1 end
    return after - l.p2
  elseif l.kind == 'c' then
    if cost == 0 then return -1 end
    if cost > l.max then return -2 end
    if live_slots(st) + cost <= l.max then return -1 end
    return min(earliest_expiry(st) or 0, CONCURRENCY_RETRY_CAP)
  end
  if cost > l.max then return -2 end
  if used_now(st) + cost <= l.max then return -1 end
  return l.end_now
end

-- takes `cost` from a counter already checked to fit
local function consume(l, st, cost, lease_id)
  if l.kind == 'r' then
    st.tat = occupied(st) + cost * l.p1
  elseif l.kind == 'c' then
    purge(st)
    for _, lease in ipairs(st.leases) do
      if lease.id == lease_id then
        lease.n = lease.n + cost
        lease.x = l.p1
        return
      end
    end
    st.leases[#st.leases + 1] = { id = lease_id, n = cost, x = l.p1 }
  else
    st.u = used_now(st) + cost
    st.e = l.end_now
  end
end

-- remaining units and time until entirely free, as floodgate_core::inspect reports them
local function status(l, st)
  if l.kind == 'r' then
    local occ = occupied(st)
    local remaining = 0
    if occ < l.p2 then remaining = min(idiv(l.p2 - occ, l.p1), l.max) end
    return remaining, occ
  elseif l.kind == 'c' then
    return max(l.max - live_slots(st), 0), earliest_expiry(st) or 0
  end
  return max(l.max - used_now(st), 0), l.end_now
end

-- queues a counter's write, or its removal once it says nothing (so no key is left
-- without a TTL)
local function store_state(l, st)
  local keep, text = 0, nil
  if l.kind == 'r' then
    keep, text = st.tat, abs(st.tat)
  elseif l.kind == 'c' then
    purge(st)
    local parts = {}
    for _, lease in ipairs(st.leases) do
      parts[#parts + 1] = lease.id .. ',' .. format('%d', lease.n) .. ',' .. abs(lease.x)
      if lease.x > keep then keep = lease.x end
    end
    text = concat(parts, ';')
  elseif st.u > 0 then
    keep, text = st.e, abs(st.e) .. ':' .. format('%d', st.u)
  end
  local h = hashes[l.key]
  if keep <= 0 then
    if l.raw then h.dels[#h.dels + 1] = l.field end
    return
  end
  h.sets[#h.sets + 1] = l.field
  h.sets[#h.sets + 1] = text
  if keep > h.keep then h.keep = keep end
end

-- writes the queued changes: one HDEL and one HSET per hash at most, and a PEXPIRE only
-- when the hash's state would otherwise outlive it
local function flush()
  for _, key in ipairs(hash_order) do
    local h = hashes[key]
    if #h.dels > 0 then call('HDEL', key, unpack(h.dels)) end
    if #h.sets > 0 then
      local extend = h.keep > 0 and (h.expiry == nil or h.keep + EXPIRY_MIN > h.expiry)
      local expiry = h.keep + EXPIRY_SET
      if extend then
        h.sets[#h.sets + 1] = EXPIRY_FIELD
        h.sets[#h.sets + 1] = abs(expiry)
      end
      call('HSET', key, unpack(h.sets))
      if extend then call('PEXPIRE', key, ceil(expiry / 1000000)) end
    end
  end
end

-- ns left on an abuse block in force on the key's abuse hash, or -1
local function blocked_for(key)
  local until_text = call('HGET', key, 'u')
  if until_text then
    local left = rel(until_text)
    if left > 0 then return left end
  end
  return -1
end
