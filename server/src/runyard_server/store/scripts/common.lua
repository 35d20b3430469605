-- Shared helpers, prepended to every script by store/scripts.py.
-- ARGV[1] is keys.LUA_KEYS: the key prefixes (the schema is in store/keys.py).
local K = cjson.decode(ARGV[1])

local function task_key(id) return K.task .. id end
local function queue_key(q) return K.queue .. q end
local function since_key(q) return K.queue .. q .. ':since' end
local function running_key(w) return K.worker .. w .. ':running' end

local function reply(key)
  return {'ok', redis.call('HGETALL', key)}
end

-- Every status change goes through here, so every one is also an event on K.events
-- (its id is the time; "by" is the script that made the change, SCRIPT, set by
-- store/scripts.py). Trimmed to about EVENTS_MAX entries: consumers read within
-- seconds, and the archiver's sweep catches a final task whose event was trimmed.
local EVENTS_MAX = 100000
local function set_status(id, key, old, new)
  local num = redis.call('HGET', key, 'num')
  redis.call('ZREM', K.status_idx .. old, id)
  redis.call('ZADD', K.status_idx .. new, num, id)
  redis.call('HSET', key, 'status', new)
  redis.call('XADD', K.events, 'MAXLEN', '~', EVENTS_MAX, '*',
    'task', id, 'from', old, 'to', new, 'by', SCRIPT)
end

-- Records the queue the task is on (or clears it when q is false) and its index.
local function set_queue(id, key, q)
  local old = redis.call('HGET', key, 'queue')
  if old and old ~= q then redis.call('ZREM', K.queue_idx .. old, id) end
  if q then
    redis.call('ZADD', K.queue_idx .. q, redis.call('HGET', key, 'num'), id)
    redis.call('HSET', key, 'queue', q)
  else
    redis.call('HDEL', key, 'queue')
  end
end

-- Puts the task on queue q: behind its priority (FIFO) or, at_head, in front of it.
local function push(id, key, q, priority, now, at_head)
  local seq = redis.call('INCR', K.queue_seq)
  local score = -priority * 1e12 + seq
  if at_head then score = -priority * 1e12 - seq end
  redis.call('ZADD', queue_key(q), score, id)
  redis.call('ZADD', since_key(q), now, id)
  redis.call('SADD', K.queues, q)
  redis.call('HSET', key, 'priority', priority, 'enqueued', now)
end

local function pull(id, q)
  redis.call('ZREM', queue_key(q), id)
  redis.call('ZREM', since_key(q), id)
end

-- nil when the token is the running task's current one, else the error reply.
local function check_lease(key, token)
  local t = redis.call('HMGET', key, 'status', 'token')
  if not t[1] then return {'missing'} end
  if t[1] ~= 'running' or t[2] ~= token then return {'stale', t[1]} end
  return nil
end

-- The running task leaves its worker and its lease.
local function release(id, key)
  redis.call('ZREM', K.leases, id)
  local w = redis.call('HGET', key, 'worker')
  if w then redis.call('SREM', running_key(w), id) end
end
