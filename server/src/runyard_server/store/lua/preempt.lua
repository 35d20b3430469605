-- ARGV: labels, now, preemptor id, wait before preempting (s), loop window (s), hold (s),
-- then the ids of live workers that serve the preemptor's queue and run a task it may
-- preempt. The caller declared each worker's running tasks and their queues' settings,
-- and the task each worker is held for; one that appeared since is an undeclared key
-- (the caller reads again), raised before anything is written.
--
-- Decides and marks in one step. A worker is free for the task when its total minus
-- what its running tasks hold covers the request and it has a free slot; then nothing
-- is preempted (a claim will take it). Else the victims are running tasks of a lower
-- priority, from a preemptible queue, not already stopping, not aborted, and not
-- preempted twice within the window; on each worker the fewest whose freeing makes the
-- task fit (one when one does; lowest priority first, then the most recently started),
-- and of the workers the one needing the fewest, then the lowest priority. Marks them
-- (the heartbeat tells their agent), holds that worker for the preemptor and puts the
-- preemptor at the front of its priority, so the worker's next claim takes it.
-- Replies {'marked', worker, victim ids...}, {'pending', worker} (a victim of this task
-- is still stopping), {'fits', worker}, {'none'}, {'early'} or {'gone'} (not queued).
local now, p = tonumber(ARGV[2]), ARGV[3]
local after_s, window_s, hold_s = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local EPS = 1e-9  -- sums of CPU and memory shares are floats
local pkey = task_key(p)
local pt = redis.call('HMGET', pkey, 'status', 'queue', 'priority', 'gpus', 'cpus', 'mem',
  'enqueued', 'nodes')
if pt[1] ~= 'queued' or not pt[2] then return {'gone'} end
-- A multi-node task (a gang over several workers) neither preempts nor is preempted.
if tonumber(pt[8] or 1) > 1 then return {'none'} end
if now - tonumber(pt[7] or now) < after_s then return {'early'} end
local q, prio = pt[2], tonumber(pt[3] or 0)
local need = {tonumber(pt[4]), tonumber(pt[5]), tonumber(pt[6])}
local qkey, seq_key = queue_key(q), keyof('queue_seq')  -- declared? asked before any write

local function fits(free, slot)
  return slot and need[1] <= free[1] + EPS and need[2] <= free[2] + EPS
    and need[3] <= free[3] + EPS
end

local function plus(free, victims)
  local sum = {free[1], free[2], free[3]}
  for _, v in ipairs(victims) do
    for k = 1, 3 do sum[k] = sum[k] + v.res[k] end
  end
  return sum
end

local function serves(queues)
  for _, name in ipairs(cjson.decode(queues)) do
    if name == q then return true end
  end
  return false
end

-- Held for another task that still waits: its victims' room is promised.
local function held_for_other(w)
  local h = redis.call('HMGET', keyof('worker', w), 'reserved_for', 'reserved_until')
  if not h[1] or h[1] == p or tonumber(h[2] or 0) <= now then return false end
  return redis.call('HGET', task_key(h[1]), 'status') == 'queued'
end

local function preemptible(name)
  return redis.call('HGET', keyof('queue_settings', name), 'preemptible') == '1'
end

-- Preferred first: the lowest priority, then the most recently started.
local function before(a, b)
  if a.prio ~= b.prio then return a.prio < b.prio end
  if a.started ~= b.started then return a.started > b.started end
  return a.id < b.id
end

-- The fewest victims on one worker whose freeing makes the task fit, or nil (freeing
-- one frees a slot too).
local function choose(free, victims)
  table.sort(victims, before)
  for _, v in ipairs(victims) do
    if fits(plus(free, {v}), true) then return {v} end
  end
  local chosen = {}
  for _, v in ipairs(victims) do
    chosen[#chosen + 1] = v
    if fits(plus(free, chosen), true) then
      -- Drop any the others make unneeded, the least preferred victims kept out first.
      for j = #chosen - 1, 1, -1 do
        local without = {}
        for k, c in ipairs(chosen) do
          if k ~= j then without[#without + 1] = c end
        end
        if fits(plus(free, without), true) then chosen = without end
      end
      return chosen
    end
  end
  return nil
end

local function worst(victims)
  local top = -math.huge
  for _, v in ipairs(victims) do top = math.max(top, v.prio) end
  return top
end

local best_w, best = nil, nil
for i = 7, #ARGV do
  local w = ARGV[i]
  local wh = redis.call('HMGET', keyof('worker', w), 'resources', 'queues', 'slots')
  if wh[1] and wh[2] and serves(wh[2]) and not held_for_other(w) then
    local total = cjson.decode(wh[1])
    local free = {tonumber(total.gpus or 0), tonumber(total.cpus or 0),
      tonumber(total.memory_gb or 0)}
    local ids = redis.call('SMEMBERS', running_key(w))
    local victims = {}
    for _, id in ipairs(ids) do
      local t = redis.call('HMGET', task_key(id), 'status', 'gpus', 'cpus', 'mem', 'priority',
        'queue', 'token', 'preempt_by', 'preempt_token', 'abort_requested', 'preempted_before',
        'started', 'preempt_at', 'nodes')
      local res = {tonumber(t[2] or 0), tonumber(t[3] or 0), tonumber(t[4] or 0)}
      for k = 1, 3 do free[k] = free[k] - res[k] end
      if t[8] and t[9] == t[7] then
        -- Stopping already: for this task (wait for it) or another (its room is promised).
        -- Still running a hold after the mark, its agent did not stop it (an agent older
        -- than preemption, or stuck): no longer waited for, nor marked again.
        if t[8] == p and now - tonumber(t[13] or now) < hold_s then return {'pending', w} end
      elseif t[1] == 'running' and not t[10] and t[6] and tonumber(t[5] or 0) < prio
          and tonumber(t[14] or 1) <= 1
          and preemptible(t[6])
          and not (t[11] and now - tonumber(t[11]) < window_s) then
        victims[#victims + 1] = {id = id, res = res, prio = tonumber(t[5] or 0),
          started = tonumber(t[12] or now), token = t[7]}
      end
    end
    local slot = (not wh[3]) or #ids < tonumber(wh[3])
    if fits(free, slot) then return {'fits', w} end
    local chosen = choose(free, victims)
    if chosen and (not best or #chosen < #best
        or (#chosen == #best and worst(chosen) < worst(best))) then
      best_w, best = w, chosen
    end
  end
end
if not best then return {'none'} end

local out = {'marked', best_w}
for _, v in ipairs(best) do
  redis.call('HSET', task_key(v.id), 'preempt_by', p, 'preempt_token', v.token, 'preempt_at', now)
  out[#out + 1] = v.id
end
redis.call('HSET', keyof('worker', best_w), 'reserved_for', p, 'reserved_queue', q,
  'reserved_until', now + hold_s)
-- The front of its priority (as a requeued task goes back), without a new wait time.
local seq = redis.call('INCR', seq_key)
redis.call('ZADD', qkey, -prio * 1e12 - seq, p)
return out
