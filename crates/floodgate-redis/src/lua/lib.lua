-- floodgate: shared prelude of every script (time, calendar, counters, expiry).
--
-- Lua numbers are doubles, exact only up to 2^53. Absolute times are nanoseconds since
-- the epoch (about 1.8e18), so they never become Lua numbers: they are stored as decimal
-- strings and turned into offsets from now (`rel`), which stay far below 2^53 (104 days),
-- and back (`abs`). Every rule below works on such offsets and follows floodgate_core
-- to the nanosecond, with now taken from the server's TIME.
--
-- A script runs its whole text, this prelude included, on every call, and the decision
-- script runs on Redis's one thread for every request: everything here is paid per
-- call. So there are few functions (each is a closure built per call), a limit's
-- parameters and counter state share one table, stored text is converted once, and the
-- scripts report each counter's raw standing (`standing`): the client derives remaining
-- units and reset times from it (`reply.rs`), not Lua.

local E9 = 1000000000
local DAY_S = 86400
-- A hash's expiry is pushed out only when its state would outlive it by less than
-- EXPIRY_MIN, and then to EXPIRY_SET past that state: a busy counter moves its expiry
-- once a second or so instead of on every call, and idle state lingers at most 2 s.
local EXPIRY_MIN = E9
local EXPIRY_SET = 2 * E9
-- each hash records its own expiry (ms since the epoch, exact in a double) in this
-- field, read with the counters in one call
local EXPIRY_FIELD = '~e'
-- the previous version's record of the same expiry, in ns: still written (when the
-- expiry moves, not per call) so that instances of that version, which decide on it,
-- stay right during a rolling upgrade
local LEGACY_EXPIRY_FIELD = '~x'
local MAX_OFFSET = 9007199254740992

-- Standard functions as locals: a local is read from a register or upvalue where a
-- global costs a table lookup (two for `string.sub`).
local tonumber, ipairs, unpack = tonumber, ipairs, unpack
local sub, format, match, gmatch = string.sub, string.format, string.match, string.gmatch
local floor, ceil, min, max = math.floor, math.ceil, math.min, math.max
local call = redis.call

local clock = call('TIME')
local NOW_S = tonumber(clock[1])
local NOW_US = tonumber(clock[2])
local NOW_N = NOW_US * 1000
-- now in whole ms, and the ns past it: expiries are kept in ms
local NOW_MS = NOW_S * 1000 + floor(NOW_US / 1000)
local NOW_SUB = NOW_N - floor(NOW_US / 1000) * 1000000

-- floor(a / b) for integers, exact where the quotient's double rounding is not
local function idiv(a, b)
  local q = floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

-- an absolute time stored as a decimal string of nanoseconds, as an offset from now;
-- nil for text that is not a number
local function rel(text)
  local len = #text
  if len > 9 then
    local s, n = tonumber(sub(text, 1, len - 9)), tonumber(sub(text, len - 8))
    if s and n then return (s - NOW_S) * E9 + (n - NOW_N) end
    return nil
  end
  local n = tonumber(text)
  if n then return -NOW_S * E9 + (n - NOW_N) end
  return nil
end

-- an offset from now as a decimal string of absolute nanoseconds
local function abs(offset)
  local t = NOW_N + offset
  local carry = idiv(t, E9)
  return format('%d%09d', NOW_S + carry, t - carry * E9)
end

-- end of the day ('d') or month ('m') holding the absolute time (at_s s + at_n ns),
-- whose boundary lies `offset` ns after 00:00 UTC, as an offset from now
local function period_end(kind, offset, at_s, at_n)
  offset = offset % (DAY_S * E9)
  local off_s = idiv(offset, E9)
  local off_n = offset - off_s * E9
  local s, n = at_s - off_s, at_n - off_n
  if n < 0 then s, n = s - 1, n + E9 end
  local z = idiv(s, DAY_S)
  local end_days = z + 1
  if kind == 'm' then
    -- the first day of the next month: Howard Hinnant's civil_from_days, then
    -- days_from_civil, as floodgate_core::calendar
    z = z + 719468
    local era = idiv(z, 146097)
    local doe = z - era * 146097
    local yoe = idiv(doe - idiv(doe, 1460) + idiv(doe, 36524) - idiv(doe, 146096), 365)
    local y = yoe + era * 400
    local doy = doe - (365 * yoe + idiv(yoe, 4) - idiv(yoe, 100))
    local mp = idiv(5 * doy + 2, 153)
    local m = mp - 9
    if mp < 10 then m = mp + 3 end
    if m <= 2 then y = y + 1 end
    if m == 12 then y, m = y + 1, 1 else m = m + 1 end
    if m <= 2 then y = y - 1 end
    era = idiv(y, 400)
    yoe = y - era * 400
    mp = m + 9
    if m > 2 then mp = m - 3 end
    doe = yoe * 365 + idiv(yoe, 4) - idiv(yoe, 100) + idiv(153 * mp + 2, 5)
    end_days = era * 146097 + doe - 719468
  end
  return (end_days * DAY_S + off_s - NOW_S) * E9 + (off_n - NOW_N)
end

-- limits arrive as 8 arguments each: key index, hash field, kind ('r' rolling, 'd' day,
-- 'm' month, 'c' concurrency), p1, p2, max, amount, shadow. Each becomes one table that
-- also holds its counter's state once `load_all` has read it: `tat` (rolling, as an
-- offset, never below 0), `u` (units used in the current period), `leases`.
local function parse_limits(from)
  local limits, n = {}, 0
  local argv = ARGV
  -- the limits of one request share their day's (or month's) end: computed once
  local end_kind, end_offset, end_now
  for i = from, #argv - 7, 8 do
    local kind = argv[i + 2]
    local l = {
      key = tonumber(argv[i]), field = argv[i + 1], kind = kind,
      p1 = tonumber(argv[i + 3]), p2 = 0, max = tonumber(argv[i + 5]),
      amount = tonumber(argv[i + 6]), shadow = argv[i + 7] == '1',
      at = 0, raw = false, tat = 0, u = 0, leases = false, end_now = 0, check = -1,
    }
    if kind == 'r' then
      l.p2 = tonumber(argv[i + 4])
    elseif kind ~= 'c' then
      if kind ~= end_kind or argv[i + 3] ~= end_offset then
        end_kind, end_offset = kind, argv[i + 3]
        end_now = period_end(kind, l.p1, NOW_S, NOW_N)
      end
      l.end_now = end_now
    end
    n = n + 1
    limits[n] = l
  end
  return limits
end

-- the hashes read, by KEYS index: each a record whose array part lists the fields
-- read (then EXPIRY_FIELD), with `values` (the HMGET reply), `expiry` (the recorded
-- expiry as an offset from now, nil if none), `keep` (how long its longest state
-- lives), and the queued writes `sets` and `dels`
local hashes = {}

-- reads every limit's counter, one HMGET per hash, into the limit's state (an absent or
-- unreadable counter is fresh, as in floodgate_core)
local function load_all(limits)
  local keys = KEYS
  local count = #limits
  for i = 1, count do
    local l = limits[i]
    local h = hashes[l.key]
    if not h then
      h = { l.field, keep = 0, values = false, expiry = nil, sets = false, dels = false }
      hashes[l.key] = h
      l.at = 1
    else
      local n = #h + 1
      h[n] = l.field
      l.at = n
    end
  end
  for k = 1, #keys do
    local h = hashes[k]
    if h then
      local n = #h + 1
      h[n] = EXPIRY_FIELD
      local values = call('HMGET', keys[k], unpack(h))
      h.values = values
      local expiry = tonumber(values[n])
      if expiry then h.expiry = (expiry - NOW_MS) * 1000000 - NOW_SUB end
    end
  end
  for i = 1, count do
    local l = limits[i]
    local raw = hashes[l.key].values[l.at]
    l.raw = raw
    local kind = l.kind
    if kind == 'r' then
      local tat = raw and rel(raw)
      if tat and tat > 0 then l.tat = tat end
    elseif kind == 'c' then
      local leases = {}
      if raw then
        for id, slots, x in gmatch(raw, '([^,;]+),(%d+),(%d+)') do
          leases[#leases + 1] = { id = id, n = tonumber(slots), x = rel(x) }
        end
      end
      l.leases = leases
    elseif raw then
      local e, u = match(raw, '^(%d+):(%d+)$')
      -- a quota's count holds until its period's end has passed
      if e and rel(e) > 0 then l.u = tonumber(u) end
    end
  end
end

-- slots held by unexpired leases, and the earliest of their expiries (nil for none)
local function lease_standing(l)
  local live, first = 0, nil
  for _, lease in ipairs(l.leases) do
    local x = lease.x
    if x > 0 then
      live = live + lease.n
      if first == nil or x < first then first = x end
    end
  end
  return live, first
end

-- drops expired leases
local function purge(l)
  local kept = {}
  for _, lease in ipairs(l.leases) do
    if lease.x > 0 then kept[#kept + 1] = lease end
  end
  l.leases = kept
end

-- a counter's raw standing, two numbers the client turns into remaining and reset
-- (`reply.rs`): rolling, the time its TAT is ahead of now (and 0); a quota, the units
-- used and its period's end; concurrency, the live slots and the earliest expiry (0)
local function standing(l)
  local kind = l.kind
  if kind == 'r' then return l.tat, 0 end
  if kind == 'c' then
    local live, first = lease_standing(l)
    return live, first or 0
  end
  return l.u, l.end_now
end

-- queues a counter's write, or its removal once it says nothing (so no key is left
-- without a TTL)
local function store_state(l)
  local keep, text = 0, nil
  local kind = l.kind
  if kind == 'r' then
    keep = l.tat
    if keep > 0 then text = abs(keep) end
  elseif kind == 'c' then
    purge(l)
    local parts = {}
    for _, lease in ipairs(l.leases) do
      parts[#parts + 1] = lease.id .. ',' .. format('%d', lease.n) .. ',' .. abs(lease.x)
      if lease.x > keep then keep = lease.x end
    end
    text = table.concat(parts, ';')
  elseif l.u > 0 then
    keep, text = l.end_now, abs(l.end_now) .. ':' .. format('%d', l.u)
  end
  local h = hashes[l.key]
  if keep <= 0 then
    if l.raw then
      local dels = h.dels or {}
      dels[#dels + 1] = l.field
      h.dels = dels
    end
    return
  end
  local sets = h.sets or {}
  local n = #sets
  sets[n + 1] = l.field
  sets[n + 2] = text
  h.sets = sets
  if keep > h.keep then h.keep = keep end
end

-- writes the queued changes: one HDEL and one HSET per hash at most; only when the
-- hash's state would otherwise outlive it, its TTL is read and made to reach past that
-- state (never shortened: another writer may have set it for longer-lived state)
local function flush()
  local keys = KEYS
  for k = 1, #keys do
    local h = hashes[k]
    if h and h.dels then call('HDEL', keys[k], unpack(h.dels)) end
    local sets = h and h.sets
    if sets then
      local keep, expiry = h.keep, h.expiry
      if keep > 0 and (not expiry or keep + EXPIRY_MIN > expiry) then
        local until_n = keep + EXPIRY_SET
        local until_ms = NOW_MS + ceil((NOW_SUB + until_n) / 1000000)
        local n = #sets
        sets[n + 1], sets[n + 2] = EXPIRY_FIELD, until_ms
        sets[n + 3], sets[n + 4] = LEGACY_EXPIRY_FIELD, abs(until_n)
        call('HSET', keys[k], unpack(sets))
        local ttl = call('PTTL', keys[k])
        if ttl < 0 or ttl < until_ms - NOW_MS then call('PEXPIREAT', keys[k], until_ms) end
      else
        call('HSET', keys[k], unpack(sets))
      end
    end
  end
end

-- ns left on an abuse block in force on the key's abuse hash, or -1
local function blocked_for(key)
  local until_text = call('HGET', key, 'u')
  if until_text then
    local left = rel(until_text)
    if left and left > 0 then return left end
  end
  return -1
end
