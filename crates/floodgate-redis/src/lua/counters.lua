-- floodgate: per-limit counters for the scripts that take one request's limits (inspect,
-- settle, lease, failure): parsing them, reading and writing their hashes. Follows
-- lib.lua, whose time and number rules it uses.

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
      key = argv[i] + 0, field = argv[i + 1], kind = kind,
      p1 = argv[i + 3] + 0, p2 = 0, max = argv[i + 5] + 0,
      amount = argv[i + 6] + 0, shadow = argv[i + 7] == '1',
      at = 0, raw = false, tat = 0, u = 0, leases = false, end_now = 0, check = -1,
    }
    if kind == 'r' then
      l.p2 = argv[i + 4] + 0
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
    local state = read_state(kind, raw)
    if kind == 'r' then
      l.tat = state
    elseif kind == 'c' then
      l.leases = state
    else
      l.u = state
    end
  end
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
    local live, first = lease_standing(l.leases)
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
