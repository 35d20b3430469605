-- ARGV: labels, worker id, now, lease expiry, then task id / lease token pairs.
-- Returns {'ok', ids to abort, ids whose lease is lost}.
local w, now, expiry = ARGV[2], ARGV[3], ARGV[4]
local wkey = keyof('worker', w)
if redis.call('EXISTS', wkey) == 0 then return {'missing'} end
redis.call('HSET', wkey, 'last_heartbeat', now)
local abort, lost = {}, {}
for i = 5, #ARGV - 1, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local t = redis.call('HMGET', task_key(id), 'status', 'token', 'worker', 'abort_requested')
  local gang = gang_heartbeat(id, task_key(id), token, w, expiry)
  if gang == 'abort' then
    abort[#abort + 1] = id
  elseif gang == 'lost' then
    lost[#lost + 1] = id
  elseif gang then  -- 'ok': a rank of a gang, its own lease extended
  elseif t[1] == 'running' and t[2] == token and t[3] == w then
    redis.call('ZADD', keyof('leases'), expiry, id)
    if t[4] then abort[#abort + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return {'ok', abort, lost}
