-- ARGV: labels, id, token, now. running -> queued at the head; the claim is not counted
-- (nor, when a preemption made the agent give it back, held against max_retries).
-- A task with abort_requested ends aborted instead.
local id, token, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = task_key(id)
local err = check_lease(key, token, id)
if err then return err end
require_covered(key)
release(id, key)
gang_release(id, key)  -- a gang goes back whole: its other ranks are told "lost"
if redis.call('HEXISTS', key, 'abort_requested') == 1 then
  -- A user asked to stop it: giving it back would run it again.
  set_status(id, key, 'running', 'aborted')
  mark_finished(id, key, now)
  return reply(key)
end
local mark = redis.call('HMGET', key, 'preempt_by', 'preempt_token', 'preempted_at')
if mark[1] and mark[2] == token then
  -- Given back because a higher-priority task preempted it (lua/preempt.lua): say by
  -- whom, and keep the last two times for the loop guard.
  redis.call('HINCRBY', key, 'preempted', 1)
  redis.call('HINCRBY', keyof('stats'), 'preempted', 1)
  redis.call('HSET', key, 'preempted_by', mark[1], 'preempted_at', now)
  if mark[3] then redis.call('HSET', key, 'preempted_before', mark[3]) end
end
redis.call('HDEL', key, 'preempt_by', 'preempt_token', 'preempt_at')
set_status(id, key, 'running', 'queued')
redis.call('HINCRBY', key, 'attempt', -1)
redis.call('HDEL', key, 'worker')
local t = redis.call('HMGET', key, 'queue', 'priority')
push(id, key, t[1], tonumber(t[2] or 0), now, true)
return reply(key)
