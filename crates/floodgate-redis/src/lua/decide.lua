-- floodgate: a batch of all-or-nothing decisions, run in order exactly as if each were
-- its own script call, sharing one call's fixed costs (the command, the prelude, TIME)
-- and each hash's read and write: a hash that several decisions touch is read once and
-- written once, and a later decision sees what an earlier one consumed.
--
-- KEYS: every hash the batch uses, each once: counter hashes, abuse hashes, admin
-- records hashes.
-- ARGV: [1] the number of decisions, [2] the number of limit definitions; then each
-- definition, 6 arguments (the limits of a batch's decisions are mostly the same few,
-- so each is sent once): hash field, kind ('r' rolling, 'd' day, 'm' month, 'c'
-- concurrency), p1, p2, max, '1' if shadowed; then each decision: '1' to consume when
-- everything fits, '0' to only check (an earlier part of it was already refused); its
-- lease id; the KEYS index of the key's abuse hash (0 for none); the KEYS index of the
-- account's admin records hash (0 for none); the records' generation it was resolved
-- under; its number of limits; then its limits, 3 arguments each: the KEYS index of the
-- counter's hash, the definition's number, the amount (the request's cost).
-- Returns: now (s, us); each definition's period end (quotas; 0 for the other kinds);
-- then per decision: -1 if its admin records are at another generation than it was
-- resolved under (then it read and consumed nothing, its limits are stale, and nothing
-- more is sent for it); else -2 - the ns left on an abuse block if one holds it, else 1
-- if it consumed and 0 if not; then per limit: only when it does not fit, its check (-1
-- never fits, else -2 - the wait in ns), then its standing: rolling, the TAT's lead
-- over now; a quota, units used; concurrency, live slots and the earliest expiry or 0
-- (two numbers). Every number Redis turns into the reply costs it about a thousand
-- instructions, so what the client can fill in itself is not sent: `batch.rs` puts
-- back the check of a limit that fits, the 0 of a rolling limit and a quota's period
-- end, and reads the flag and the block from one number.

-- the longest a concurrency limit tells a refused request to wait
local CONCURRENCY_RETRY_CAP = E9
local argv, keys = ARGV, KEYS

-- The batch's decisions repeat the same few numbers (limits, costs, indices), and a
-- table lookup of an interned string costs a fraction of converting it: each distinct
-- argument text is converted once. Arguments are numbers the client wrote, so they are
-- converted by arithmetic, which parses once where `tonumber` parses twice.
local num = setmetatable({}, { __index = function(cache, text)
  local value = text + 0
  cache[text] = value
  return value
end })

-- Every counter the batch names, once, by KEYS index: a table per counter hash holds its
-- counters in the order the batch names them and, by field, the same counters. A
-- counter holds its field, its state (`tat` rolling, as an offset never below 0; `u`
-- units used; `leases`), the stored text it was read from (`raw`), and once consumed,
-- `dirty` and (quotas) `ends`. Each table costs Redis about as much as forty
-- instructions of the script, so there is one per hash and one per counter, no more.
local counters = {}
-- per KEYS index of a counter hash: how many counters it holds
local held = {}
-- each limit's counter, in the order the batch names them
local refs, r = {}, 0

-- The limit definitions: the parameters as numbers, once.
local decisions, defined = argv[1] + 0, argv[2] + 0
local defs = {}
local at = 3
for j = 1, defined do
  defs[j] = { field = argv[at], kind = argv[at + 1], p1 = argv[at + 2] + 0,
    p2 = argv[at + 3] + 0, max = argv[at + 4] + 0, shadow = argv[at + 5] == '1',
    ends = false }
  at = at + 6
end
local first_decision = at

-- Pass 1: find every counter, so that each hash is read once.
for _ = 1, decisions do
  local n = num[argv[at + 5]]
  at = at + 6
  for i = at, at + 3 * (n - 1), 3 do
    local k = num[argv[i]]
    local h = counters[k]
    if not h then
      h = {}
      counters[k] = h
      held[k] = 0
    end
    local def = defs[num[argv[i + 1]]]
    local field = def.field
    local c = h[field]
    if not c then
      local kind = def.kind
      c = { field = field, kind = kind, tat = 0, u = 0, leases = kind == 'c' and {},
        raw = false, dirty = false, ends = 0 }
      h[field] = c
      local m = held[k] + 1
      h[m] = c
      held[k] = m
    end
    r = r + 1
    refs[r] = c
  end
  at = at + 3 * n
end

-- Read each counter hash once (with its recorded expiry); an absent or unreadable
-- counter is fresh, as in floodgate_core. A hash of one or two counters, the usual
-- case, is read without building an argument list.
local expiries = {}
for k, h in pairs(counters) do
  local n = held[k]
  local values
  if n == 1 then
    values = call('HMGET', keys[k], h[1].field, EXPIRY_FIELD)
  elseif n == 2 then
    values = call('HMGET', keys[k], h[1].field, h[2].field, EXPIRY_FIELD)
  else
    local list = {}
    for j = 1, n do list[j] = h[j].field end
    list[n + 1] = EXPIRY_FIELD
    values = call('HMGET', keys[k], unpack(list))
  end
  local expiry = tonumber(values[n + 1])
  if expiry then expiries[k] = (expiry - NOW_MS) * 1000000 - NOW_SUB end
  for j = 1, n do
    local raw = values[j]
    if raw then
      local c = h[j]
      c.raw = raw
      read_state(c, c.kind, raw)
    end
  end
end

-- the generation in an admin records hash, and a key's abuse block: read once per batch
-- (made when a decision first needs them)
local generations, blocks = false, false

-- Pass 2: each decision in order.
local out = { NOW_S, NOW_US }
local o = 2
for j = 1, defined do
  o = o + 1
  out[o] = 0
end
-- the current decision's limits: counter, check, amount, and what consuming it sets
-- (rolling: the TAT's advance; concurrency: the lease's TTL; a quota: its period's end)
-- (made at the size of eight limits, so the usual decision never grows them)
local cs = { false, false, false, false, false, false, false, false }
local checks = { 0, 0, 0, 0, 0, 0, 0, 0 }
local amounts = { 0, 0, 0, 0, 0, 0, 0, 0 }
local ends = { 0, 0, 0, 0, 0, 0, 0, 0 }
at, r = first_decision, 0
for _ = 1, decisions do
  local consume_ok = argv[at] == '1'
  local lease_id = argv[at + 1]
  local abuse_k = num[argv[at + 2]]
  local guard_k = num[argv[at + 3]]
  local n = num[argv[at + 5]]
  local stale = false
  if guard_k > 0 then
    generations = generations or {}
    local g = generations[guard_k]
    if not g then
      g = call('HGET', keys[guard_k], 'g') or '0'
      generations[guard_k] = g
    end
    stale = g ~= argv[at + 4]
  end
  at = at + 6
  if stale then
    at, r = at + 3 * n, r + n
    o = o + 1
    out[o] = -1
  else
    local blocked = -1
    if abuse_k > 0 then
      blocks = blocks or {}
      blocked = blocks[abuse_k]
      if not blocked then
        blocked = -1
        local until_text = call('HGET', keys[abuse_k], 'u')
        if until_text then
          local left = rel(until_text)
          if left and left > 0 then blocked = left end
        end
        blocks[abuse_k] = blocked
      end
    end
    local fits = blocked < 0
    for i = 1, n do
      r = r + 1
      local c = refs[r]
      local def = defs[num[argv[at + 1]]]
      local kind, max = def.kind, def.max
      local cost = num[argv[at + 2]]
      local check = -1
      if kind == 'r' then
        if cost > max then
          check = -2
        else
          local step = cost * def.p1
          ends[i] = step
          local after = c.tat + step
          if after > def.p2 then check = after - def.p2 end
        end
      elseif kind == 'c' then
        ends[i] = def.p1
        if cost > 0 then
          if cost > max then
            check = -2
          else
            local live, first = lease_standing(c)
            if live + cost > max then check = min(first or 0, CONCURRENCY_RETRY_CAP) end
          end
        end
      else
        -- the end of the limit's period, as an offset from now: once per batch
        local e = def.ends
        if not e then
          e = period_end(kind, def.p1, NOW_S, NOW_N)
          def.ends = e
        end
        ends[i] = e
        if cost > max then
          check = -2
        elseif c.u + cost > max then
          check = e
        end
      end
      cs[i], checks[i], amounts[i] = c, check, cost
      if check ~= -1 and not def.shadow then fits = false end
      at = at + 3
    end
    local consumed = consume_ok and fits
    if consumed then
      for i = 1, n do
        local cost = amounts[i]
        -- a shadowed limit that would have refused keeps tracking what it would admit
        if checks[i] == -1 and cost > 0 then
          local c = cs[i]
          local kind = c.kind
          c.dirty = true
          if kind == 'r' then
            c.tat = c.tat + ends[i]
          elseif kind == 'c' then
            local kept, held = {}, false
            for _, lease in ipairs(c.leases) do
              if lease.x > 0 then
                if lease.id == lease_id then
                  lease.n = lease.n + cost
                  lease.x = ends[i]
                  held = true
                end
                kept[#kept + 1] = lease
              end
            end
            if not held then kept[#kept + 1] = { id = lease_id, n = cost, x = ends[i] } end
            c.leases = kept
          else
            c.u = c.u + cost
            c.ends = ends[i]
          end
        end
      end
    end
    o = o + 1
    if blocked >= 0 then out[o] = -2 - blocked else out[o] = consumed and 1 or 0 end
    for i = 1, n do
      local c, check = cs[i], checks[i]
      if check ~= -1 then
        o = o + 1
        if check == -2 then out[o] = -1 else out[o] = -2 - check end
      end
      local kind = c.kind
      o = o + 1
      if kind == 'r' then
        out[o] = c.tat
      elseif kind == 'c' then
        local live, first = lease_standing(c)
        out[o], out[o + 1] = live, first or 0
        o = o + 1
      else
        out[o] = c.u
      end
    end
  end
end

-- Write each changed hash once: its counters' new text, or their removal once they say
-- nothing (so no key is left without a TTL). Only when a hash's state would otherwise
-- outlive it is its TTL read and made to reach past that state (never shortened:
-- another writer may have set it for longer-lived state). One or two changed counters,
-- the usual case, are written without building an argument list.
-- a quota's period end is the same for every counter of its definition: its text once
local end_texts = {}
for k, h in pairs(counters) do
  local f1, v1, f2, v2, sets, dels = false, false, false, false, false, false
  local keep, ns = 0, 0
  for j = 1, held[k] do
    local c = h[j]
    if c.dirty then
      local kind = c.kind
      local state_keep, text = 0, nil
      if kind == 'r' then
        state_keep = c.tat
        if state_keep > 0 then text = abs(state_keep) end
      elseif kind == 'c' then
        local parts = {}
        for _, lease in ipairs(c.leases) do
          if lease.x > 0 then
            parts[#parts + 1] = lease.id .. ',' .. format('%d', lease.n) .. ',' .. abs(lease.x)
            if lease.x > state_keep then state_keep = lease.x end
          end
        end
        text = table.concat(parts, ';')
      elseif c.u > 0 then
        local e, u = c.ends, c.u
        local e_text = end_texts[e]
        if not e_text then
          e_text = abs(e) .. ':'
          end_texts[e] = e_text
        end
        state_keep, text = e, e_text .. format('%d', u)
      end
      if state_keep <= 0 then
        if c.raw then
          dels = dels or {}
          dels[#dels + 1] = c.field
        end
      else
        ns = ns + 1
        if ns == 1 then
          f1, v1 = c.field, text
        elseif ns == 2 then
          f2, v2 = c.field, text
        else
          if ns == 3 then sets = { f1, v1, f2, v2 } end
          sets[2 * ns - 1], sets[2 * ns] = c.field, text
        end
        if state_keep > keep then keep = state_keep end
      end
    end
  end
  local key = keys[k]
  if dels then call('HDEL', key, unpack(dels)) end
  if ns > 0 then
    local expiry = expiries[k]
    if not expiry or keep + EXPIRY_MIN > expiry then
      sets = sets or (ns == 1 and { f1, v1 } or { f1, v1, f2, v2 })
      local until_n = keep + EXPIRY_SET
      local until_ms = NOW_MS + ceil((NOW_SUB + until_n) / 1000000)
      local m = 2 * ns
      sets[m + 1], sets[m + 2] = EXPIRY_FIELD, until_ms
      sets[m + 3], sets[m + 4] = LEGACY_EXPIRY_FIELD, abs(until_n)
      call('HSET', key, unpack(sets))
      local ttl = call('PTTL', key)
      if ttl < 0 or ttl < until_ms - NOW_MS then call('PEXPIREAT', key, until_ms) end
    elseif sets then
      call('HSET', key, unpack(sets))
    elseif ns == 1 then
      call('HSET', key, f1, v1)
    else
      call('HSET', key, f1, v1, f2, v2)
    end
  end
end

-- each quota definition's period end (0 for the other kinds, and for a quota no decision
-- reached)
for j = 1, defined do
  out[2 + j] = defs[j].ends or 0
end

return out
