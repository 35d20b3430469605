-- Shared helpers, prepended to every script by store/scripts.py.
-- KEYS are every key the script may touch, ARGV[1] their labels (store/script_keys.py);
-- the script looks keys up by label and never builds a key name (schema: store/keys.py).
local K = {}
for i, label in ipairs(cjson.decode(ARGV[1])) do K[label] = KEYS[i] end

-- The key declared as `kind` (`kind:name` with a name). A label the caller did not
-- declare is an error (scripts.Undeclared); a script asks for every key that depends
-- on stored data before its first write, so that error never leaves a change half done.
local function keyof(kind, name)
  local label = kind
  if name then label = kind .. ':' .. name end
  local k = K[label]
  if not k then error('runyard: undeclared key ' .. label) end
  return k
end

local function declared(kind, name) return K[kind .. ':' .. name] ~= nil end

local function task_key(id) return keyof('task', id) end
local function queue_key(q) return keyof('queue', q) end
local function since_key(q) return keyof('since', q) end
local function running_key(w) return keyof('running', w) end

-- True when the keys named by the task's queue and worker fields were declared.
local function covered(key)
  local t = redis.call('HMGET', key, 'queue', 'worker')
  return (not t[1] or declared('queue', t[1])) and (not t[2] or declared('running', t[2]))
end

-- Before a script's first write: the caller declared the keys of the task's queue and
-- worker as it read them; if they changed since, stop (the caller reads again).
local function require_covered(key)
  if not covered(key) then error('runyard: undeclared key: the task moved since it was read') end
end

local function reply(key)
  return {'ok', redis.call('HGETALL', key)}
end

-- Every status change goes through here, so every one is also an event on `events`
-- (its id is the time; "by" is the script that made the change, SCRIPT, set by
-- store/scripts.py). Trimmed to about EVENTS_MAX entries: consumers read within
-- seconds, and the archiver's sweep catches a final task whose event was trimmed.
local EVENTS_MAX = 100000
local function set_status(id, key, old, new)
  local num = redis.call('HGET', key, 'num')
  redis.call('ZREM', keyof('status_idx', old), id)
  redis.call('ZADD', keyof('status_idx', new), num, id)
  redis.call('HSET', key, 'status', new)
  -- An agent's word on a running attempt (heartbeat.lua) ends with it.
  if old == 'running' then redis.call('HDEL', key, 'state_detail') end
  redis.call('XADD', keyof('events'), 'MAXLEN', '~', EVENTS_MAX, '*',
    'task', id, 'from', old, 'to', new, 'by', SCRIPT)
end

-- Records the queue the task is on (or clears it when q is false) and its index.
local function set_queue(id, key, q)
  local old = redis.call('HGET', key, 'queue')
  if old and old ~= q then redis.call('ZREM', keyof('queue_idx', old), id) end
  if q then
    redis.call('ZADD', keyof('queue_idx', q), redis.call('HGET', key, 'num'), id)
    redis.call('HSET', key, 'queue', q)
  else
    redis.call('HDEL', key, 'queue')
  end
end

-- Puts the task on queue q: behind its priority (FIFO) or, at_head, in front of it.
local function push(id, key, q, priority, now, at_head)
  local seq = redis.call('INCR', keyof('queue_seq'))
  local score = -priority * 1e12 + seq
  if at_head then score = -priority * 1e12 - seq end
  if redis.call('ZADD', queue_key(q), score, id) == 1 then
    redis.call('HINCRBY', keyof('queue_owners', q), redis.call('HGET', key, 'owner') or '', 1)
  end
  redis.call('ZADD', since_key(q), now, id)
  redis.call('SADD', keyof('queues'), q)
  redis.call('HSET', key, 'priority', priority, 'enqueued', now)
end

-- The queue's waiting owners (ry:queue:{name}:owners) count what push and pull move, so
-- they follow the queue's own membership and cannot drift.
local function pull(id, q)
  if redis.call('ZREM', queue_key(q), id) == 1 then
    local owners, owner = keyof('queue_owners', q), redis.call('HGET', task_key(id), 'owner') or ''
    if redis.call('HINCRBY', owners, owner, -1) <= 0 then redis.call('HDEL', owners, owner) end
  end
  redis.call('ZREM', since_key(q), id)
end

-- nil when the token is the running task's current one (or, given the task's id, one of
-- its gang's ranks' tokens, see gang.lua), else the error reply.
local function check_lease(key, token, id)
  local t = redis.call('HMGET', key, 'status', 'token')
  if not t[1] then return {'missing'} end
  if t[1] == 'running' and id and declared('gang', id)
    and redis.call('HEXISTS', keyof('gang', id), 'r:' .. token) == 1 then return nil end
  if t[1] ~= 'running' or t[2] ~= token then return {'stale', t[1]} end
  return nil
end

-- Queue limits (store/queue_settings.py). A queue's running tasks are a sorted set
-- scored by the GPUs each holds; the claim adds a task, release removes it.
-- What the queue's settings leave room for now: false when max_running is reached,
-- else the GPUs its running tasks may still take (math.huge without max_gpus).
local function queue_room(q)
  local s = redis.call('HMGET', keyof('queue_settings', q), 'max_running', 'max_gpus')
  local running = keyof('queue_running', q)
  if s[1] and redis.call('ZCARD', running) >= tonumber(s[1]) then return false end
  if not s[2] then return math.huge end
  local used = 0
  local held = redis.call('ZRANGE', running, 0, -1, 'WITHSCORES')
  for i = 2, #held, 2 do used = used + tonumber(held[i]) end
  return tonumber(s[2]) - used
end

-- True when a task asking for `gpus` would go past the queue's room. A task without
-- GPUs adds none, so only max_running holds it back. Shares are sums of 1/2^k: exact.
local function over_room(room, gpus)
  return gpus > 0 and gpus > room
end

-- Quotas and fair share (store/quotas.py). What each user (kind 'u', '' for tasks
-- without an owner) and project ('p') runs is one sorted set, ry:quota-running, every
-- score 0, one member per running task and kind: '{kind}:{#name}:{name}:{id}:{gpus}'.
-- The name's length makes a name's prefix unambiguous whatever it holds, so a lex range
-- gives what one name runs; the claim adds a task's members, `release` removes them (the
-- same members: built from fields that do not change while it runs), so a repeated add
-- or remove cannot drift. The limits and weights are fields of one hash, ry:quotas.
local function quota_prefix(kind, name) return kind .. ':' .. #name .. ':' .. name .. ':' end

local function quota_members(id, key)
  local t = redis.call('HMGET', key, 'owner', 'project', 'gpus', 'nodes')
  local tail = id .. ':' .. (tonumber(t[3]) or 0) * tonumber(t[4] or 1)
  return quota_prefix('u', t[1] or '') .. tail, quota_prefix('p', t[2] or '') .. tail
end

-- How many tasks `kind:name` runs and the GPUs they hold.
local function quota_usage(kind, name)
  local p = quota_prefix(kind, name)
  local rows = redis.call('ZRANGEBYLEX', keyof('quota_running'), '[' .. p,
    '(' .. string.sub(p, 1, -2) .. ';')
  local gpus = 0
  for _, m in ipairs(rows) do gpus = gpus + tonumber(string.match(m, ':([^:]*)$')) end
  return #rows, gpus
end

-- A name's limits, weight and (read only when needed) usage, for one claim.
local function quota_state(kind, name)
  local function field(what) return kind .. ':' .. what .. ':' .. name end
  local f = redis.call('HMGET', keyof('quotas'), field('max_running'), field('max_gpus'),
    field('weight'))
  return {max_running = tonumber(f[1]), max_gpus = tonumber(f[2]), weight = tonumber(f[3]) or 1}
end

local function quota_used(state, kind, name)
  if not state.running then state.running, state.gpus = quota_usage(kind, name) end
  return state.running, state.gpus
end

-- True when `kind:name` may start one more task holding `gpus`.
local function quota_allows(state, kind, name, gpus)
  if not state.max_running and not state.max_gpus then return true end
  local running, used = quota_used(state, kind, name)
  if state.max_running and running >= state.max_running then return false end
  return not (state.max_gpus and gpus > 0 and used + gpus > state.max_gpus)
end

-- The running task enters its queue's running set and its owner's and project's usage.
local function queue_hold(q, id, gpus)
  redis.call('ZADD', keyof('queue_running', q), gpus, id)
  local user, project = quota_members(id, task_key(id))
  redis.call('ZADD', keyof('quota_running'), 0, user, 0, project)
end

-- One rank's entry of Task.placement as JSON: GPU indices (comma-separated) and the
-- share it holds of each (cjson would write an empty list as an object).
local function rank_placement(w, rank, indices, share)
  return '{"worker":' .. cjson.encode(w) .. ',"rank":' .. rank .. ',"gpu_indices":[' ..
    indices .. '],"gpu_fraction":' .. share .. '}'
end

-- The running task leaves its worker, its lease, its queue's running set and its usage.
local function release(id, key)
  local t = redis.call('HMGET', key, 'worker', 'queue')
  local running = t[1] and running_key(t[1])
  redis.call('ZREM', keyof('leases'), id)
  if running then redis.call('SREM', running, id) end
  if t[2] then redis.call('ZREM', keyof('queue_running', t[2]), id) end
  local user, project = quota_members(id, key)
  redis.call('ZREM', keyof('quota_running'), user, project)
end

-- The sort and search indexes of a task's name (keys.py: ry:idx:name, ry:names:{n}).
local function names_key(num) return keyof('names', math.floor(tonumber(num) / NAMES_PER_KEY)) end

local function sort_member(name, id)
  local lowered = string.lower(name)
  if string.find(lowered, '\0', 1, true) then lowered = (string.gsub(lowered, '%z', '\1')) end
  return lowered .. '\0' .. id
end

-- The name strings index_name writes for a task numbered num (its own and, when num
-- starts a new one, the full one before it); a script calls it before its first write.
local function names_keys(num)
  local full = nil
  if tonumber(num) % NAMES_PER_KEY == 0 and tonumber(num) > 0 then
    full = names_key(tonumber(num) - 1)
  end
  return names_key(num), full
end

local function index_name(id, num, name, folded)
  local key, full = names_keys(num)
  redis.call('ZADD', keyof('name_idx'), 0, sort_member(name, id))
  if full then
    -- APPEND leaves up to as much room again as a string holds; the previous string
    -- is full now, so a copy (SET) gives that room back once.
    local text = redis.call('GET', full)
    if text then redis.call('SET', full, text) end
  end
  redis.call('APPEND', key, folded .. '\t' .. id .. '\n')
end

-- Cuts the task's record out of its names string; the record starts right after the
-- previous newline (found from the folded name, or by a walk when that disagrees).
local function unindex_name(id, num, name, folded)
  local key = names_key(num)
  redis.call('ZREM', keyof('name_idx'), sort_member(name, id))
  local text = redis.call('GET', key)
  if not text then return end
  local at = string.find(text, '\t' .. id .. '\n', 1, true)
  if not at then return end
  local first = at - #folded
  if first < 1 or (first > 1 and string.sub(text, first - 1, first - 1) ~= '\n') then
    first = 1
    while true do
      local nl = string.find(text, '\n', first, true)
      if not nl or nl > at then break end
      first = nl + 1
    end
  end
  text = string.sub(text, 1, first - 1) .. string.sub(text, at + #id + 2)
  if text == '' then redis.call('DEL', key) else redis.call('SET', key, text) end
end

-- The task ended now: its finish time and the index sorted by it.
local function mark_finished(id, key, now)
  redis.call('HSET', key, 'finished', now)
  redis.call('ZADD', keyof('finished_idx'), now, id)
end
