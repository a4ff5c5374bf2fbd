-- floodgate: shared prelude of every script (time, numbers, calendar, expiry, reading a
-- counter's stored text, leases' standing); the scripts that take one request's limits
-- add `counters.lua`, the decision script keeps its own batch-wide counters
-- (`decide.lua`).
--
-- Lua numbers are doubles, exact only up to 2^53. Absolute times are nanoseconds since
-- the epoch (about 1.8e18), so they never become Lua numbers: they are stored as decimal
-- strings and turned into offsets from now (`rel`), which stay far below 2^53 (104 days),
-- and back (`abs`). Every rule below works on such offsets and follows floodgate_core
-- to the nanosecond, with now taken from the server's TIME.
--
-- A script runs its whole text, this prelude included, on every call, and the decision
-- script runs on Redis's one thread for every batch of requests: everything here is
-- paid per call. So there are few functions (each is a closure built per call), stored
-- text is converted once, and the scripts report each counter's raw standing: the
-- client derives remaining units and reset times from it (`reply.rs`), not Lua.

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
local tonumber, ipairs, pairs, unpack = tonumber, ipairs, pairs, unpack
local sub, format, match, gmatch = string.sub, string.format, string.match, string.gmatch
local floor, ceil, min, max = math.floor, math.ceil, math.min, math.max
local call = redis.call

local clock = call('TIME')
-- TIME's digits, stored counters' digits matched by a pattern and the client's arguments
-- are converted by arithmetic (one parse; `tonumber` parses twice); stored text that
-- may not be a number goes through `tonumber`, which gives nil instead of an error.
local NOW_S = clock[1] + 0
local NOW_US = clock[2] + 0
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

-- each second's digits, by its distance from now's second: formatted once per call
local second_texts = {}

-- an offset from now as a decimal string of absolute nanoseconds
local function abs(offset)
  local t = NOW_N + offset
  -- (most times written are within now's second)
  local carry = 0
  if t < 0 or t >= E9 then carry = idiv(t, E9) end
  local second = second_texts[carry]
  if not second then
    second = format('%d', NOW_S + carry)
    second_texts[carry] = second
  end
  return second .. format('%09d', t - carry * E9)
end

-- now as stored times are written. Stored times are 19 digits until the year 2286, and
-- two decimal strings of the same length compare as their numbers (in every locale's
-- collation, which Lua's string comparison follows): a stored time is compared with
-- now without converting it.
local NOW_TEXT = abs(0)
local TIME_LEN = #NOW_TEXT

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

-- a counter's state from its stored text (nil or false when absent), by its kind: the
-- TAT (rolling, as an offset, never below 0), the leases (concurrency, a list of
-- `{ id, n = slots, x = expiry offset }`), the units used in the current period (a
-- quota); text that does not parse leaves the state fresh, as in floodgate_core
local function read_state(kind, raw)
  if kind == 'r' then
    -- a TAT not after now leaves the limit fresh (the usual case: no debt)
    if raw and (#raw ~= TIME_LEN or raw > NOW_TEXT) then
      local tat = rel(raw)
      if tat and tat > 0 then return tat end
    end
    return 0
  elseif kind == 'c' then
    local leases = {}
    if raw then
      for id, slots, x in gmatch(raw, '([^,;]+),(%d+),(%d+)') do
        leases[#leases + 1] = { id = id, n = slots + 0, x = rel(x) }
      end
    end
    return leases
  elseif raw then
    local e, u = match(raw, '^(%d+):(%d+)$')
    -- a quota's count holds until its period's end has passed
    if e and (#e == TIME_LEN and e > NOW_TEXT or #e ~= TIME_LEN and rel(e) > 0) then
      return u + 0
    end
  end
  return 0
end

-- slots held by unexpired `leases`, and the earliest of their expiries (nil for none)
local function lease_standing(leases)
  local live, first = 0, nil
  for _, lease in ipairs(leases) do
    local x = lease.x
    if x > 0 then
      live = live + lease.n
      if first == nil or x < first then first = x end
    end
  end
  return live, first
end
