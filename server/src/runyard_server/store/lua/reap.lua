-- ARGV: keys, now, most tasks to reap. Each expired lease: a task a user asked to
-- abort ends aborted (whatever became of its agent, the user's word stands); else back
-- at the head of its queue while attempt <= max_retries (attempt counts claims, so
-- max_retries losses are retried), else failed with "worker lost" (a local run, which
-- has no worker or queue: "the local run stopped reporting"). Returns the number of
-- leases looked at, then id, queue ('' when it ended) pairs.
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', K.leases, '-inf', now, 'LIMIT', 0, limit)
local out = {#ids}
for _, id in ipairs(ids) do
  local key = task_key(id)
  local t = redis.call('HMGET', key, 'status', 'attempt', 'max_retries', 'queue', 'priority',
    'worker', 'abort_requested')
  if t[1] == 'running' then
    local reason = 'worker lost'
    if not t[6] then reason = 'the local run stopped reporting (its process died?)' end
    release(id, key)
    redis.call('HDEL', key, 'worker')
    if t[7] then
      set_status(id, key, 'running', 'aborted')
      mark_finished(id, key, now)
      redis.call('HINCRBY', K.stats, 'lease_expired_aborted', 1)
      out[#out + 1] = id
      out[#out + 1] = ''
    elseif tonumber(t[2] or 0) <= tonumber(t[3] or 0) and t[4] then
      set_status(id, key, 'running', 'queued')
      push(id, key, t[4], tonumber(t[5] or 0), now, true)
      redis.call('HINCRBY', K.stats, 'lease_expired_requeued', 1)
      out[#out + 1] = id
      out[#out + 1] = t[4]
    else
      set_status(id, key, 'running', 'failed')
      redis.call('HSET', key, 'failure_reason', reason)
      mark_finished(id, key, now)
      redis.call('HINCRBY', K.stats, 'lease_expired_failed', 1)
      out[#out + 1] = id
      out[#out + 1] = ''
    end
  else
    redis.call('ZREM', K.leases, id)
  end
end
return out
