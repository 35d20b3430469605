-- ARGV: labels, worker id, now, lease expiry, the GPU state as JSON ('' when unchanged),
-- then task id / lease token / state detail triples (detail '' clears the task's).
-- Returns {'ok', ids to abort, ids whose lease is lost, id / preemptor pairs to preempt}.
local w, now, expiry, gpu_state = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local wkey = keyof('worker', w)
if redis.call('EXISTS', wkey) == 0 then return {'missing'} end
redis.call('HSET', wkey, 'last_heartbeat', now)
if gpu_state ~= '' then redis.call('HSET', wkey, 'gpu_state', gpu_state) end
local abort, lost, preempt = {}, {}, {}
for i = 6, #ARGV - 2, 3 do
  local id, token, detail = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local t = redis.call('HMGET', task_key(id), 'status', 'token', 'worker', 'abort_requested',
    'preempt_by', 'preempt_token', 'state_detail')
  local gang = gang_heartbeat(id, task_key(id), token, w, expiry)
  if gang == 'abort' then
    abort[#abort + 1] = id
  elseif gang == 'lost' then
    lost[#lost + 1] = id
  elseif gang then  -- 'ok': a rank of a gang, its own lease extended
  elseif t[1] == 'running' and t[2] == token and t[3] == w then
    redis.call('ZADD', keyof('leases'), expiry, id)
    if detail ~= (t[7] or '') then
      if detail == '' then
        redis.call('HDEL', task_key(id), 'state_detail')
      else
        redis.call('HSET', task_key(id), 'state_detail', detail)
      end
    end
    if t[4] then abort[#abort + 1] = id end
    -- A mark names the attempt it stops: one left from an earlier attempt is void.
    if t[5] and t[6] == token then
      preempt[#preempt + 1] = id
      preempt[#preempt + 1] = t[5]
    end
  else
    lost[#lost + 1] = id
  end
end
return {'ok', abort, lost, preempt}
