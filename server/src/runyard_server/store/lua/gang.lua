-- Multi-node tasks (gangs), prepended after common.lua by store/scripts.py; the design
-- is in store/gangs.py, the gang hash's fields in store/keys.py (ry:task:{id}:gang).
-- Every function is a no-op for a task without a gang.

local function gang_key(id) return keyof('gang', id) end

-- The gang's ranks' worker ids, as the task hash lists them (set when it formed).
local function gang_workers(key)
  local listed = redis.call('HGET', key, 'gang_workers')
  local out = {}
  if listed then for w in string.gmatch(listed, '%S+') do out[#out + 1] = w end end
  return out
end

-- A gang still forming is released: its members are free again, its task waits where
-- it was in its queue (it never left it).
local function gang_dissolve(id)
  if not declared('gang', id) then return end
  local gk = gang_key(id)
  if redis.call('HEXISTS', gk, 'formed') == 1 then return end
  redis.call('DEL', gk)
  redis.call('ZREM', keyof('gangs'), id)
end

-- A formed gang is over (ended, requeued, lost): its ranks leave their workers and
-- their leases; an agent still running a rank hears "lost" at its next heartbeat.
local function gang_release(id, key)
  if not declared('gang', id) then return end
  for _, w in ipairs(gang_workers(key)) do redis.call('SREM', running_key(w), id) end
  redis.call('DEL', gang_key(id))
  redis.call('HDEL', key, 'gang_workers')
end

-- The task's lease is its earliest rank lease, so the reaper acts when any rank's
-- agent goes quiet, and then on the whole gang.
local function gang_lease(id)
  local gk = gang_key(id)
  local earliest = nil
  for i = 0, tonumber(redis.call('HGET', gk, 'size')) - 1 do
    local x = tonumber(redis.call('HGET', gk, 'x:' .. i))
    if x and (not earliest or x < earliest) then earliest = x end
  end
  if earliest then redis.call('ZADD', keyof('leases'), earliest, id) end
end

-- The rank of a lease token in the task's formed gang; nil when it is none.
local function gang_rank(id, token)
  if not declared('gang', id) then return nil end
  local gk = gang_key(id)
  local g = redis.call('HMGET', gk, 'formed', 'r:' .. token)
  if not g[1] or not g[2] then return nil end
  return g[2]
end

-- A rank's lease runs to expiry (its started report, its agent's heartbeat). True when
-- the token is a rank's; the caller extends a plain task's lease itself otherwise.
local function gang_extend(id, token, expiry)
  local r = gang_rank(id, token)
  if not r then return false end
  local gk = gang_key(id)
  if redis.call('HEXISTS', gk, 'e:' .. r) == 0 then
    redis.call('HSET', gk, 'x:' .. r, expiry)
    gang_lease(id)
  end
  return true
end

-- The gang is complete: the task runs, one rank per member, every rank on the first
-- lease (the task's token is none of the ranks', so only rank tokens report).
local function gang_form(id, key, q, size, now, expiry)
  local gk = gang_key(id)
  pull(id, q)
  redis.call('ZREM', keyof('gangs'), id)
  set_status(id, key, 'queued', 'running')
  redis.call('HINCRBY', key, 'attempt', 1)
  local workers, placement = {}, {}
  for i = 0, size - 1 do
    local m = redis.call('HMGET', gk, 'w:' .. i, 'p:' .. i)
    local w = m[1]
    local at, share = string.match(m[2] or ' 1', '^(%S*) (%S+)$')
    workers[#workers + 1] = w
    placement[#placement + 1] = rank_placement(w, i, at, share)
    redis.call('HSET', gk, 'x:' .. i, expiry)
    redis.call('HDEL', gk, 'm:' .. w)
  end
  redis.call('HDEL', gk, 'deadline')
  redis.call('HSET', gk, 'formed', '1')
  redis.call('HSET', key, 'worker', workers[1], 'token', redis.sha1hex(gk .. now .. id),
    'gang_workers', table.concat(workers, ' '), 'placement',
    '[' .. table.concat(placement, ',') .. ']')
  queue_hold(q, id, tonumber(redis.call('HGET', key, 'gpus')) * size)
  redis.call('HDEL', key, 'started')
  redis.call('ZREM', keyof('started_idx'), id)
  redis.call('ZADD', keyof('leases'), expiry, id)
end

-- The claim of worker w (lease token `token`, rendezvous offer `offer`) joins the gang
-- of queued task id, making it when there is none (or only an expired one). Replies
-- {'gang', id} once joined (the caller waits for the rest, store/gangs.py), nil when w
-- may not join: it offers no rendezvous address, or it is a member already. `at` and
-- `share` are the GPUs the rank gets on w (gpus.lua's place_gpus).
local function gang_join(id, key, q, w, token, now, expiry, offer, timeout, at, share)
  if offer == '' or not declared('gang', id) then return nil end
  local gk = gang_key(id)
  local g = redis.call('HMGET', gk, 'deadline', 'joined', 'm:' .. w)
  if g[1] and tonumber(g[1]) <= tonumber(now) then
    gang_dissolve(id)
    g = {false, false, false}
  end
  if g[3] then return nil end
  local size = tonumber(redis.call('HGET', key, 'nodes'))
  local i = tonumber(g[2] or 0)
  if not g[1] then
    redis.call('HSET', gk, 'size', size, 'deadline', tonumber(now) + timeout)
    redis.call('ZADD', keyof('gangs'), redis.call('ZSCORE', queue_key(q), id), id)
  end
  redis.call('HSET', gk, 'joined', i + 1, 'w:' .. i, w, 'k:' .. i, token, 'a:' .. i, offer,
    'm:' .. w, i, 'r:' .. token, i, 'p:' .. i, table.concat(at, ',') .. ' ' .. share)
  if i + 1 == size then gang_form(id, key, q, size, now, expiry) end
  return {'gang', id}
end

-- The oldest forming gang on one of the claimer's queues that fits (fits(key) gives
-- where its rank would go), joined; nil when none. A claim that would join or make a gang calls this first (the
-- tasks before it in the claimer's order still go first), so gangs fill oldest first
-- and two gangs competing for the same agents never each hold a part of them until
-- both time out.
local function gang_join_forming(queues, w, token, now, expiry, offer, timeout, fits)
  if offer == '' then return nil end
  for _, id in ipairs(redis.call('ZRANGE', keyof('gangs'), 0, 63)) do
    if declared('task', id) then
      local key = task_key(id)
      local t = redis.call('HMGET', key, 'status', 'queue')
      if t[1] == 'queued' and queues[t[2]] then
        local at, share = fits(key)
        local got = at and gang_join(id, key, t[2], w, token, now, expiry, offer, timeout, at, share)
        if got then return got end
      end
    end
  end
  return nil
end

-- Rank `token` of task id ended as `status`. nil: no rank of a gang; false: recorded,
-- other ranks still run (a failure or abort asks them to stop); else the gang's end
-- {status, exit code, reason} once the last rank ended (the gang is released then).
local function gang_end(id, key, token, status, code, reason)
  local r = gang_rank(id, token)
  if not r then return nil end
  local gk = gang_key(id)
  if redis.call('HEXISTS', gk, 'e:' .. r) == 1 then return false end
  redis.call('HSET', gk, 'e:' .. r, status)
  redis.call('HDEL', gk, 'x:' .. r)
  redis.call('SREM', running_key(redis.call('HGET', gk, 'w:' .. r)), id)
  if status ~= 'completed' and redis.call('HEXISTS', gk, 'status') == 0 then
    if reason ~= '' then reason = 'rank ' .. r .. ': ' .. reason end
    redis.call('HSET', gk, 'status', status, 'exit_code', code, 'failure_reason', reason,
      'stop', '1')
  end
  if redis.call('HINCRBY', gk, 'ended', 1) < tonumber(redis.call('HGET', gk, 'size')) then
    gang_lease(id)
    return false
  end
  local g = redis.call('HMGET', gk, 'status', 'exit_code', 'failure_reason')
  gang_release(id, key)
  if not g[1] then return {'completed', code, ''} end
  return g
end

-- A heartbeat for (id, token) from worker w: nil when the token is no rank's (the
-- plain check follows); else 'abort' (a rank failed or a user aborted: stop it) or
-- 'ok', with the rank's lease extended to expiry.
local function gang_heartbeat(id, key, token, w, expiry)
  local r = gang_rank(id, token)
  if not r then return nil end
  local gk = gang_key(id)
  if redis.call('HGET', gk, 'w:' .. r) ~= w then return 'lost' end
  gang_extend(id, token, expiry)
  if redis.call('HEXISTS', gk, 'stop') == 1 or redis.call('HEXISTS', key, 'abort_requested') == 1 then
    return 'abort'
  end
  return 'ok'
end
