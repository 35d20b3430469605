-- ARGV: labels, worker id, new lease token, now, lease expiry, free gpus (the agent's
-- GPUs as gpus.lua reads them), free cpus, free memory_gb, entries scanned per queue,
-- the gang offer ('' takes no multi-node task, else 'port host'), the gang timeout in
-- seconds, then the queue names in the agent's order. A multi-node task is joined, not
-- taken (gang.lua): {'gang', id}.
-- Takes the first waiting task that fits; a task too big for this agent stays put
-- and does not block smaller ones behind it. Replies {'none', 1} when waiting tasks
-- were seen that did not fit, so the caller can let another agent try them. A queue's
-- max_running and max_gpus (its settings) hold its tasks back without making them unfit.
-- The caller declared the tasks it found waiting at the front of each queue; one it
-- did not (it arrived since) is an undeclared key, before this claim took anything.
local w, token, now, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local rows, count = agent_gpus(ARGV[6])
local cpus, mem = tonumber(ARGV[7]), tonumber(ARGV[8])
local scan = tonumber(ARGV[9])
local offer, gang_timeout = ARGV[10], tonumber(ARGV[11])
local unfit = 0
if redis.call('EXISTS', keyof('worker', w)) == 0 then return {'missing'} end
-- Where the task would go on this agent (GPU indices and share), or nil when it does not fit.
local function fits(key)
  local t = redis.call('HMGET', key, 'gpus', 'cpus', 'mem', 'gpu_mem', 'gpu_pat', 'gpu_link')
  if tonumber(t[2]) > cpus or tonumber(t[3]) > mem then return nil end
  return place_gpus(rows, count, t[1], t[4], t[5], t[6])
end
local served = {}
for qi = 12, #ARGV do served[ARGV[qi]] = true end
for qi = 12, #ARGV do
  local q = ARGV[qi]
  -- A queue at its max_running is skipped; its tasks stay queued and are not unfit.
  local room = queue_room(q)
  local ids = {}
  if room then ids = redis.call('ZRANGE', queue_key(q), 0, scan - 1) end
  for _, id in ipairs(ids) do
    local key = task_key(id)
    local t = redis.call('HMGET', key, 'status', 'abort_requested', 'gpus', 'nodes')
    local nodes = tonumber(t[4] or 1)
    local at, share = nil, nil
    if t[1] == 'queued' and not t[2] then at, share = fits(key) end
    if t[1] ~= 'queued' then
      pull(id, q)
    elseif t[2] then
      -- Queued with an abort pending (left by an older server): honour it, never run it.
      pull(id, q)
      set_status(id, key, 'queued', 'aborted')
      mark_finished(id, key, now)
    elseif over_room(room, tonumber(t[3]) * nodes) then
      -- Past the queue's max_gpus: it waits for the queue, not for a bigger agent.
    elseif nodes > 1 then
      if at and offer ~= '' then
        -- The oldest forming gang it fits first (maybe this one), then this one.
        local got = gang_join_forming(served, w, token, now, expiry, offer, gang_timeout, fits)
          or gang_join(id, key, q, w, token, now, expiry, offer, gang_timeout, at, share)
        if got then return got end
      else
        unfit = 1
      end
    elseif at then
      pull(id, q)
      set_status(id, key, 'queued', 'running')
      redis.call('HINCRBY', key, 'attempt', 1)
      redis.call('HSET', key, 'worker', w, 'token', token, 'placement', placement_json(w, at, share))
      redis.call('HDEL', key, 'started')
      redis.call('ZREM', keyof('started_idx'), id)
      redis.call('ZADD', keyof('leases'), expiry, id)
      redis.call('SADD', running_key(w), id)
      queue_hold(q, id, t[3])
      return {'ok', redis.call('HGETALL', key), id}
    else
      unfit = 1
    end
  end
end
return {'none', unfit}
