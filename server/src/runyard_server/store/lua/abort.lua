-- ARGV: labels, id, now. draft/queued -> aborted; running -> abort_requested, which
-- its agent acts on; a running local run (no worker to tell) is aborted at once.
local id, now = ARGV[2], tonumber(ARGV[3])
local key = task_key(id)
local t = redis.call('HMGET', key, 'status', 'queue', 'worker')
if not t[1] then return {'missing'} end
require_covered(key)
if t[1] == 'running' and t[3] then
  redis.call('HSET', key, 'abort_requested', '1')
elseif t[1] == 'running' then
  release(id, key)  -- a local run's lease; the reaper would only drop it later
  set_status(id, key, 'running', 'aborted')
  mark_finished(id, key, now)
elseif t[1] == 'draft' or t[1] == 'queued' then
  if t[1] == 'queued' then pull(id, t[2]) end
  gang_dissolve(id)
  set_status(id, key, t[1], 'aborted')
  mark_finished(id, key, now)
else
  return {'conflict', t[1]}
end
return reply(key)
