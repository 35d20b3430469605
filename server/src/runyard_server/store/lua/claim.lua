-- ARGV: labels, worker id, new lease token, now, lease expiry, free gpus, free cpus,
-- free memory_gb, entries scanned per queue, the gang offer ('' takes no multi-node
-- task, else 'port host'), the gang timeout in seconds, then the queue names in the
-- agent's order. A multi-node task is joined, not taken (gang.lua): {'gang', id}.
-- Takes the first waiting task that fits; a task too big for this agent stays put
-- and does not block smaller ones behind it. Replies {'none', 1} when waiting tasks
-- were seen that did not fit, so the caller can let another agent try them.
-- The caller declared the tasks it found waiting at the front of each queue; one it
-- did not (it arrived since) is an undeclared key, before this claim took anything.
local w, token, now, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local gpus, cpus, mem = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local scan = tonumber(ARGV[9])
local offer, gang_timeout = ARGV[10], tonumber(ARGV[11])
local unfit = 0
if redis.call('EXISTS', keyof('worker', w)) == 0 then return {'missing'} end
local function fits(key)
  local t = redis.call('HMGET', key, 'gpus', 'cpus', 'mem')
  return tonumber(t[1]) <= gpus and tonumber(t[2]) <= cpus and tonumber(t[3]) <= mem
end
local served = {}
for qi = 12, #ARGV do served[ARGV[qi]] = true end
for qi = 12, #ARGV do
  local q = ARGV[qi]
  local ids = redis.call('ZRANGE', queue_key(q), 0, scan - 1)
  for _, id in ipairs(ids) do
    local key = task_key(id)
    local t = redis.call('HMGET', key, 'status', 'gpus', 'cpus', 'mem', 'abort_requested', 'nodes')
    if t[1] ~= 'queued' then
      pull(id, q)
    elseif t[5] then
      -- Queued with an abort pending (left by an older server): honour it, never run it.
      pull(id, q)
      set_status(id, key, 'queued', 'aborted')
      mark_finished(id, key, now)
    elseif tonumber(t[6] or 1) > 1 then
      if fits(key) and offer ~= '' then
        -- The oldest forming gang it fits first (maybe this one), then this one.
        local got = gang_join_forming(served, w, token, now, expiry, offer, gang_timeout, fits)
          or gang_join(id, key, q, w, token, now, expiry, offer, gang_timeout)
        if got then return got end
      else
        unfit = 1
      end
    elseif tonumber(t[2]) <= gpus and tonumber(t[3]) <= cpus and tonumber(t[4]) <= mem then
      pull(id, q)
      set_status(id, key, 'queued', 'running')
      redis.call('HINCRBY', key, 'attempt', 1)
      redis.call('HSET', key, 'worker', w, 'token', token)
      redis.call('HDEL', key, 'started')
      redis.call('ZREM', keyof('started_idx'), id)
      redis.call('ZADD', keyof('leases'), expiry, id)
      redis.call('SADD', running_key(w), id)
      return {'ok', redis.call('HGETALL', key), id}
    else
      unfit = 1
    end
  end
end
return {'none', unfit}
