-- floodgate: counts a failed request of a key for abuse protection.
-- KEYS: [1] the key's abuse hash (fields: u = blocked until, f = recent failure times).
-- ARGV: [1] failures tolerated in the window, [2] window (ns), [3] block length (ns).
-- Returns the block length in ns if this failure started a block, else -1.
local key = KEYS[1]
local max_failures = ARGV[1] + 0
local window = ARGV[2] + 0
local block = ARGV[3] + 0

-- failures during a block are not counted, so a client knocking on is not blocked forever
if blocked_for(key) >= 0 then return -1 end

local recent = {}
local text = redis.call('HGET', key, 'f')
if text then
  for t in string.gmatch(text, '%d+') do
    local at = rel(t)
    if -at < window then recent[#recent + 1] = at end
  end
end
recent[#recent + 1] = 0

local keep
local started = -1
if #recent > max_failures then
  redis.call('HDEL', key, 'f')
  redis.call('HSET', key, 'u', abs(block))
  keep, started = block, block
else
  local parts = {}
  for _, at in ipairs(recent) do parts[#parts + 1] = abs(at) end
  redis.call('HSET', key, 'f', table.concat(parts, ','))
  keep = window
end
-- every failure kept falls inside the window, and a block clears them: this TTL covers
-- everything the hash holds
redis.call('PEXPIRE', key, math.ceil((keep + EXPIRY_SET) / 1000000))
return started
