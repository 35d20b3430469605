-- ARGV: labels, worker id, new lease token, now, lease expiry, free gpus (the agent's
-- GPUs as gpus.lua reads them), free cpus, free memory_gb, entries scanned per queue,
-- the gang offer ('' takes no multi-node task, 'whole' takes one whole, else 'port
-- host'), the gang timeout in seconds, then the queue names in the agent's order. A
-- multi-node task is joined, not taken (gang.lua): {'gang', id}; but a claim offering
-- 'whole' (an agent in front of a scheduler, such as Slurm, that places every rank
-- itself) takes it as one task: one worker, one lease, its GPUs counted once per node.
-- Takes the first waiting task that fits; a task too big for this agent stays put
-- and does not block smaller ones behind it. Replies {'none', 1} when waiting tasks
-- were seen that did not fit, so the caller can let another agent try them. A queue's
-- max_running and max_gpus (its settings) hold its tasks back without making them unfit.
-- A task whose owner or project is at its quota (store/quotas.py) is held the same way.
-- Fair share: while several owners wait in a queue, the claim takes, among the fitting
-- tasks of the first priority it finds one at, the one whose owner runs the least share
-- (GPUs, then tasks, over the owner's weight; the earliest on a tie), not the first.
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
local quotas = {}
local function quota(kind, name)
  local k = kind .. name
  if not quotas[k] then quotas[k] = quota_state(kind, name) end
  return quotas[k]
end
-- The owner's running share: GPUs first, then tasks (a CPU pool), over its weight.
local function share_of(owner)
  local running, gpus = quota_used(quota('u', owner), 'u', owner)
  return (gpus * 1e4 + running) / quota('u', owner).weight
end
local function take(id, key, q, at, share, gpus)
  pull(id, q)
  set_status(id, key, 'queued', 'running')
  redis.call('HINCRBY', key, 'attempt', 1)
  redis.call('HSET', key, 'worker', w, 'token', token, 'placement', placement_json(w, at, share))
  redis.call('HDEL', key, 'started')
  redis.call('ZREM', keyof('started_idx'), id)
  redis.call('ZADD', keyof('leases'), expiry, id)
  redis.call('SADD', running_key(w), id)
  queue_hold(q, id, gpus)
  return {'ok', redis.call('HGETALL', key), id}
end
for qi = 12, #ARGV do
  local q = ARGV[qi]
  -- A queue at its max_running is skipped; its tasks stay queued and are not unfit.
  local room = queue_room(q)
  local ids = {}
  if room then ids = redis.call('ZRANGE', queue_key(q), 0, scan - 1) end
  local owners = 0
  if room then owners = redis.call('HLEN', keyof('queue_owners', q)) end
  -- The fair pick so far ({id, key, at, share, gpus, owner's share}), its priority and
  -- the owners seen with a fitting task.
  local best, top, seen, nseen = nil, nil, {}, 0
  for _, id in ipairs(ids) do
    local key = task_key(id)
    -- Past a fair pick, an owner seen already has nothing better further on and a lower
    -- priority ends the walk: two fields read per entry, not seven.
    local head = best and redis.call('HMGET', key, 'owner', 'priority')
    if head and head[2] ~= top then break end
    if not (head and seen[head[1] or '']) then
      local t = redis.call('HMGET', key, 'status', 'abort_requested', 'gpus', 'nodes', 'owner',
        'project', 'priority')
      local nodes = tonumber(t[4] or 1)
      local gpus, owner, project = tonumber(t[3]) * nodes, t[5] or '', t[6] or ''
      if t[1] ~= 'queued' then
        pull(id, q)
      elseif t[2] then
        -- Queued with an abort pending (left by an older server): honour it, never run it.
        pull(id, q)
        set_status(id, key, 'queued', 'aborted')
        mark_finished(id, key, now)
      elseif over_room(room, gpus) then
        -- Past the queue's max_gpus: it waits for the queue, not for a bigger agent.
      elseif not quota_allows(quota('u', owner), 'u', owner, gpus)
        or not quota_allows(quota('p', project), 'p', project, gpus) then
        -- Past its owner's or project's quota: it waits for them, not for an agent.
      elseif nodes > 1 then
        local at, share = fits(key)
        if best then
          -- A fair pick at this priority is made first; the gang waits its turn.
        elseif at and offer == 'whole' then
          -- Agents that joined its forming gang are let go, as at the gang's deadline.
          gang_dissolve(id)
          return take(id, key, q, at, share, gpus)
        elseif at and offer ~= '' then
          -- The oldest forming gang it fits first (maybe this one), then this one.
          local got = gang_join_forming(served, w, token, now, expiry, offer, gang_timeout, fits)
            or gang_join(id, key, q, w, token, now, expiry, offer, gang_timeout, at, share)
          if got then return got end
        else
          unfit = 1
        end
      else
        local at, share = fits(key)
        if not at then
          unfit = 1
        elseif owners <= 1 then
          return take(id, key, q, at, share, t[3])
        else
          local s = share_of(owner)
          if not best or s < best[6] then best, top = {id, key, at, share, t[3], s}, t[7] end
          if not seen[owner] then seen[owner], nseen = true, nseen + 1 end
          -- Nobody runs less than nothing; past every waiting owner, nobody is left.
          if s == 0 or nseen >= owners then break end
        end
      end
    end
  end
  if best then return take(best[1], best[2], q, best[3], best[4], best[5]) end
end
return {'none', unfit}
