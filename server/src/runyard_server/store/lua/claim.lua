-- ARGV: labels, worker id, new lease token, now, lease expiry, free gpus (the agent's
-- GPUs as gpus.lua reads them), free cpus, free memory_gb, entries scanned per queue,
-- then the queue names in the agent's order.
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
local unfit = 0
if redis.call('EXISTS', keyof('worker', w)) == 0 then return {'missing'} end
for qi = 10, #ARGV do
  local q = ARGV[qi]
  -- A queue at its max_running is skipped; its tasks stay queued and are not unfit.
  local room = queue_room(q)
  local ids = {}
  if room then ids = redis.call('ZRANGE', queue_key(q), 0, scan - 1) end
  for _, id in ipairs(ids) do
    local key = task_key(id)
    local t = redis.call('HMGET', key, 'status', 'gpus', 'cpus', 'mem', 'abort_requested',
      'gpu_mem', 'gpu_pat', 'gpu_link')
    local at, share = nil, nil
    if t[1] == 'queued' and not t[5] and tonumber(t[3]) <= cpus and tonumber(t[4]) <= mem then
      at, share = place_gpus(rows, count, t[2], t[6], t[7], t[8])
    end
    if t[1] ~= 'queued' then
      pull(id, q)
    elseif t[5] then
      -- Queued with an abort pending (left by an older server): honour it, never run it.
      pull(id, q)
      set_status(id, key, 'queued', 'aborted')
      mark_finished(id, key, now)
    elseif over_room(room, tonumber(t[2])) then
      -- Past the queue's max_gpus: it waits for the queue, not for a bigger agent.
    elseif at then
      pull(id, q)
      set_status(id, key, 'queued', 'running')
      redis.call('HINCRBY', key, 'attempt', 1)
      redis.call('HSET', key, 'worker', w, 'token', token, 'placement', placement_json(w, at, share))
      redis.call('HDEL', key, 'started')
      redis.call('ZREM', keyof('started_idx'), id)
      redis.call('ZADD', keyof('leases'), expiry, id)
      redis.call('SADD', running_key(w), id)
      queue_hold(q, id, t[2])
      return {'ok', redis.call('HGETALL', key), id}
    else
      unfit = 1
    end
  end
end
return {'none', unfit}
