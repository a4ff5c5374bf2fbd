-- floodgate: a batch of all-or-nothing decisions, run in order exactly as if each were
-- its own script call, sharing one call's fixed costs (the command, the prelude, TIME)
-- and each hash's read and write: a hash that several decisions touch is read once and
-- written once, and a later decision sees what an earlier one consumed.
--
-- KEYS: every hash the batch uses, each once: first the counter hashes, then abuse
-- hashes and admin records hashes.
-- ARGV: [1] the number of decisions, [2] the number of limit definitions, [3] the
-- number of counter hashes (the first KEYS); then each definition, 6 arguments (the
-- limits of a batch's decisions are mostly the same few, so each is sent once): hash
-- field, kind ('r' rolling, 'd' day, 'm' month, 'c' concurrency), p1, p2, max, '1' if
-- shadowed. Then each counter hash in KEYS order, as one number: its counters (the
-- fields the batch uses), each as the number of the first definition naming it (its
-- field, and the kind its stored text is read and written as), as the digits of the
-- number in base (definitions + 1), the first counter's lowest; or, where that number
-- would pass 2^53, minus the count of its counters followed by their definitions. The
-- batch's counters are numbered in this order (the client names each once, so the
-- script keeps no table to find them).
-- Then each decision: a word, its head, or minus (its head + 1024 x its limits' codes
-- packed); [its lease id]; [its guards: the KEYS index of the key's abuse hash (0 for
-- none), the KEYS index of the account's admin records hash (0 for none), the records'
-- generation it was resolved under]; then each limit: [its code, unless packed]; [its
-- definition's number]; [the amount, the request's cost]. The head is 8 x its number of
-- limits + 4 if its lease id follows (only a decision with a concurrency counter sends
-- it) + 2 if its guards follow + 1 to consume when everything fits (else it only
-- checks: an earlier part of it was already refused). A limit's code is 4 x its
-- counter's number + 2 if its own definition's number follows (when it is not the
-- counter's) + 1 if an amount other than 1 follows. Every argument costs Redis about
-- 800 instructions before the script reads it, so the codes travel as the digits of one
-- number in base 4 x (the batch's counters + 1), the first limit's lowest, in the
-- decision's word; where that would pass 2^53 (or the head 1023) the word is the head
-- alone and each code is its own argument.
-- Returns: now (s, us); each definition's period end (quotas; 0 for the other kinds);
-- then per decision: if its guards were sent, first -1 if its admin records are at
-- another generation than it was resolved under (then it read and consumed nothing,
-- its limits are stale, and nothing more is sent for it), else -2 - the ns left on an
-- abuse block if one holds it, else 0; then per limit: only when it does not fit, its
-- check (-1 never fits, else -2 - the wait in ns), then its standing: rolling, the
-- TAT's lead over now; a quota, units used; concurrency, live slots and the earliest
-- expiry or 0 (two numbers). Every number Redis turns into the reply costs it about a
-- thousand instructions, so what the client can work out itself is not sent:
-- `batch_args.rs` puts back the check of a limit that fits, the 0 of a rolling limit
-- and a quota's period end, and whether the decision consumed (it was to consume, no
-- block holds it and every limit that does not fit is shadowed).

-- the longest a concurrency limit tells a refused request to wait
local CONCURRENCY_RETRY_CAP = E9
local argv, keys = ARGV, KEYS

-- The batch's decisions repeat the same few numbers (heads, counters, costs), and a
-- table lookup of an interned string costs a fraction of converting it: each distinct
-- argument text is converted once. Arguments are numbers the client wrote, so they are
-- converted by arithmetic, which parses once where `tonumber` parses twice.
local num = setmetatable({}, { __index = function(cache, text)
  local value = text + 0
  cache[text] = value
  return value
end })

local decisions, defined, hashes = argv[1] + 0, argv[2] + 0, argv[3] + 0

-- The limit definitions, by number: their parameters as numbers, once, and (quotas)
-- their period's end, computed when a decision first reaches one. A table costs Redis
-- about as much as forty instructions of the script, so definitions and counters are
-- kept as columns (one table per field), not one table each.
local d_field, d_kind, d_p1, d_p2, d_max, d_shadow, d_ends = {}, {}, {}, {}, {}, {}, {}
local at = 4
for j = 1, defined do
  d_field[j], d_kind[j] = argv[at], argv[at + 1]
  d_p1[j], d_p2[j], d_max[j] = argv[at + 2] + 0, argv[at + 3] + 0, argv[at + 4] + 0
  d_shadow[j], d_ends[j] = argv[at + 5] == '1', false
  at = at + 6
end

-- The counters, by number: each one's definition and kind (its first definition's),
-- its state (rolling: the TAT as an offset never below 0; a quota: units used;
-- concurrency: its leases), whether it was stored (`c_raw`) and whether a decision
-- changed it (`c_dirty`). Each counter hash's counters are numbered from `h_first` on,
-- `h_count` of them.
local c_def, c_kind, c_state, c_raw, c_dirty = {}, {}, {}, {}, {}
local h_first, h_count = {}, {}

-- Read each counter hash once (with its recorded expiry); an absent or unreadable
-- counter is fresh, as in floodgate_core. A hash of one or two counters, the usual
-- case, is read without building an argument list.
local expiries = {}
-- Hashes whose expiry was last set for the same state (a quota's period end) record
-- the same expiry: each distinct text is converted once (false: not a number).
local expiry_offsets = {}
local c = 0
local base = defined + 1
for k = 1, hashes do
  -- the hash's counters' definitions, as digits in base (definitions + 1), the first
  -- lowest; or -(their count) followed by them
  local code, n = num[argv[at]], 0
  at = at + 1
  if code > 0 then
    repeat
      local d = code % base
      code = (code - d) / base
      n = n + 1
      c_def[c + n] = d
    until code == 0
  else
    n = -code
    for j = 1, n do c_def[c + j] = num[argv[at + j - 1]] end
    at = at + n
  end
  h_first[k], h_count[k] = c + 1, n
  local values
  if n == 1 then
    values = call('HMGET', keys[k], d_field[c_def[c + 1]], EXPIRY_FIELD)
  elseif n == 2 then
    values = call('HMGET', keys[k], d_field[c_def[c + 1]], d_field[c_def[c + 2]],
      EXPIRY_FIELD)
  else
    local list = {}
    for j = 1, n do list[j] = d_field[c_def[c + j]] end
    list[n + 1] = EXPIRY_FIELD
    values = call('HMGET', keys[k], unpack(list))
  end
  local expiry_text = values[n + 1]
  if expiry_text then
    local expiry = expiry_offsets[expiry_text]
    if expiry == nil then
      expiry = tonumber(expiry_text)
      expiry = expiry and (expiry - NOW_MS) * 1000000 - NOW_SUB or false
      expiry_offsets[expiry_text] = expiry
    end
    if expiry then expiries[k] = expiry end
  end
  for j = 1, n do
    c = c + 1
    local raw, kind = values[j], d_kind[c_def[c]]
    c_kind[c], c_state[c] = kind, read_state(kind, raw)
    c_raw[c], c_dirty[c] = raw and true or false, false
  end
end

-- A limit's counter number repeats between decisions only when the batch names fewer
-- counters than it has decisions (they share keys); otherwise looking each one up in
-- `num` costs more than converting it.
local shared = c < decisions

-- the generation in an admin records hash, and a key's abuse block: read once per batch
-- (made when a decision first needs them)
local generations, blocks = false, false

-- Each decision in order.
local out = { NOW_S, NOW_US }
local o = 2
for j = 1, defined do
  o = o + 1
  out[o] = 0
end
-- The current decision's limits: each one's counter, and its answer: below 0 (a check
-- that does not fit, as the reply sends it) or what consuming it adds to its counter
-- (rolling: the TAT's advance; a quota: the amount; concurrency: the lease's slots,
-- with the lease's TTL in `ttls`). Made at the size of eight limits, so the usual
-- decision never grows them. Every table access costs Redis about a hundred
-- instructions, so a limit is looked up as few times as it can be.
local cs = { 0, 0, 0, 0, 0, 0, 0, 0 }
local adds = { 0, 0, 0, 0, 0, 0, 0, 0 }
local ttls = { 0, 0, 0, 0, 0, 0, 0, 0 }
-- the base of the limit codes packed in a decision's word
local code_base = 4 * (c + 1)
for _ = 1, decisions do
  -- a word repeats only where decisions share their counters (as their codes do)
  local word
  if shared then word = num[argv[at]] else word = argv[at] + 0 end
  local head, packed = word, 0
  if word < 0 then
    head = -word % 1024
    packed = (-word - head) / 1024
  end
  local flags = head % 8
  local n = (head - flags) / 8
  local lease_id = false
  at = at + 1
  if flags >= 4 then
    lease_id = argv[at]
    at = at + 1
  end
  local guarded, stale, abuse_k = flags % 4 >= 2, false, 0
  if guarded then
    abuse_k = num[argv[at]]
    local guard_k = num[argv[at + 1]]
    if guard_k > 0 then
      generations = generations or {}
      local g = generations[guard_k]
      if not g then
        g = call('HGET', keys[guard_k], 'g') or '0'
        generations[guard_k] = g
      end
      stale = g ~= argv[at + 2]
    end
    at = at + 3
  end
  if stale then
    for _ = 1, n do
      local follow
      if packed > 0 then
        follow = packed % 4
        packed = (packed - packed % code_base) / code_base
      else
        follow = argv[at] % 4
        at = at + 1
      end
      if follow >= 2 then at, follow = at + 1, follow - 2 end
      at = at + follow
    end
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
      local limit
      if packed > 0 then
        limit = packed % code_base
        packed = (packed - limit) / code_base
      else
        if shared then limit = num[argv[at]] else limit = argv[at] + 0 end
        at = at + 1
      end
      local follow = limit % 4
      local counter, d, cost = (limit - follow) / 4, nil, 1
      if follow >= 2 then
        d = num[argv[at]]
        at, follow = at + 1, follow - 2
      else
        d = c_def[counter]
      end
      if follow == 1 then
        cost = num[argv[at]]
        at = at + 1
      end
      local kind, max = d_kind[d], d_max[d]
      -- the check (-1 fits, -2 never, else the wait) and what consuming sets: rolling,
      -- the TAT's advance; concurrency, the lease's TTL; a quota, its period's end
      local check, sets = -1, 0
      if kind == 'r' then
        if cost > max then
          check = -2
        else
          sets = cost * d_p1[d]
          local after = c_state[counter] + sets
          if after > d_p2[d] then check = after - d_p2[d] end
        end
      elseif kind == 'c' then
        sets = d_p1[d]
        if cost > 0 then
          if cost > max then
            check = -2
          else
            local live, first = lease_standing(c_state[counter])
            if live + cost > max then check = min(first or 0, CONCURRENCY_RETRY_CAP) end
          end
        end
      else
        -- the end of the limit's period, as an offset from now: once per batch
        sets = d_ends[d]
        if not sets then
          sets = period_end(kind, d_p1[d], NOW_S, NOW_N)
          d_ends[d] = sets
        end
        if cost > max then
          check = -2
        elseif c_state[counter] + cost > max then
          check = sets
        end
      end
      cs[i] = counter
      if check == -1 then
        -- consumed by the counter's kind, as its text is read and written
        local counter_kind = c_kind[counter]
        if counter_kind == 'r' then
          adds[i] = cost > 0 and sets or 0
        else
          adds[i] = cost
          if counter_kind == 'c' then ttls[i] = sets end
        end
      else
        if check == -2 then adds[i] = -1 else adds[i] = -2 - check end
        if not d_shadow[d] then fits = false end
      end
    end
    local consumed = flags % 2 == 1 and fits
    if consumed then
      for i = 1, n do
        local add = adds[i]
        -- a shadowed limit that would have refused keeps tracking what it would admit
        if add > 0 then
          local counter = cs[i]
          c_dirty[counter] = true
          local kind = c_kind[counter]
          if kind == 'c' then
            local kept, held, ttl = {}, false, ttls[i]
            for _, lease in ipairs(c_state[counter]) do
              if lease.x > 0 then
                if lease.id == lease_id then
                  lease.n = lease.n + add
                  lease.x = ttl
                  held = true
                end
                kept[#kept + 1] = lease
              end
            end
            if not held then kept[#kept + 1] = { id = lease_id, n = add, x = ttl } end
            c_state[counter] = kept
          else
            c_state[counter] = c_state[counter] + add
          end
        end
      end
    end
    if guarded then
      o = o + 1
      if blocked >= 0 then out[o] = -2 - blocked else out[o] = 0 end
    end
    for i = 1, n do
      local counter, add = cs[i], adds[i]
      if add < 0 then
        o = o + 1
        out[o] = add
      end
      o = o + 1
      local state = c_state[counter]
      if c_kind[counter] == 'c' then
        local live, first = lease_standing(state)
        out[o], out[o + 1] = live, first or 0
        o = o + 1
      else
        out[o] = state
      end
    end
  end
end

-- Write each changed hash once: its counters' new text, or their removal once they say
-- nothing (so no key is left without a TTL). Only when a hash's state would otherwise
-- outlive it is its TTL read and made to reach past that state (never shortened:
-- another writer may have set it for longer-lived state). One or two changed counters,
-- the usual case, are written without building an argument list.
-- A quota's period end is the same for every counter of its definition: its text once.
local end_texts = {}
for k = 1, hashes do
  local f1, v1, f2, v2, sets, dels = false, false, false, false, false, false
  local keep, ns = 0, 0
  local first = h_first[k]
  for counter = first, first + h_count[k] - 1 do
    if c_dirty[counter] then
      local d = c_def[counter]
      local kind, state = c_kind[counter], c_state[counter]
      local state_keep, text = 0, nil
      if kind == 'r' then
        state_keep = state
        if state_keep > 0 then text = abs(state_keep) end
      elseif kind == 'c' then
        local parts = {}
        for _, lease in ipairs(state) do
          if lease.x > 0 then
            parts[#parts + 1] = lease.id .. ',' .. format('%d', lease.n) .. ',' .. abs(lease.x)
            if lease.x > state_keep then state_keep = lease.x end
          end
        end
        text = table.concat(parts, ';')
      elseif state > 0 then
        -- a quota changed by a decision has its definition's period end
        local e = d_ends[d]
        local e_text = end_texts[d]
        if not e_text then
          e_text = abs(e) .. ':'
          end_texts[d] = e_text
        end
        state_keep, text = e, e_text .. format('%d', state)
      end
      if state_keep <= 0 then
        if c_raw[counter] then
          dels = dels or {}
          dels[#dels + 1] = d_field[d]
        end
      else
        ns = ns + 1
        local field = d_field[d]
        if ns == 1 then
          f1, v1 = field, text
        elseif ns == 2 then
          f2, v2 = field, text
        else
          if ns == 3 then sets = { f1, v1, f2, v2 } end
          sets[2 * ns - 1], sets[2 * ns] = field, text
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
  out[2 + j] = d_ends[j] or 0
end

return out
