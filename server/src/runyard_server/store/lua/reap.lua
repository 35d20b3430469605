-- ARGV: labels, now, then the ids of the leases the caller found expired (it declared
-- their tasks and the queues and workers they were on). Each lease still expired: a
-- task a user asked to abort ends aborted (whatever became of its agent, the user's
-- word stands); else back at the head of its queue while attempt <= max_retries
-- (attempt counts claims, so max_retries losses are retried), else failed with
-- "worker lost" (a local run, which has no worker or queue: "the local run stopped
-- reporting"). A task that moved to a queue or worker not declared since is left for
-- the next round. Returns the number of ids handled, then id, queue ('' when it
-- ended) pairs.
local now = tonumber(ARGV[2])
local leases = keyof('leases')
local out = {0}
for i = 3, #ARGV do
  local id = ARGV[i]
  local key = task_key(id)
  local expiry = redis.call('ZSCORE', leases, id)
  if expiry and tonumber(expiry) <= now and covered(key) then
    out[1] = out[1] + 1
    local t = redis.call('HMGET', key, 'status', 'attempt', 'max_retries', 'queue', 'priority',
      'worker', 'abort_requested')
    if t[1] == 'running' then
      local reason = 'worker lost'
      if not t[6] then reason = 'the local run stopped reporting (its process died?)' end
      release(id, key)
      gang_release(id, key)  -- one rank's lease ran out: the whole gang goes
      redis.call('HDEL', key, 'worker')
      if t[7] then
        set_status(id, key, 'running', 'aborted')
        mark_finished(id, key, now)
        redis.call('HINCRBY', keyof('stats'), 'lease_expired_aborted', 1)
        out[#out + 1] = id
        out[#out + 1] = ''
      elseif tonumber(t[2] or 0) <= tonumber(t[3] or 0) and t[4] then
        set_status(id, key, 'running', 'queued')
        push(id, key, t[4], tonumber(t[5] or 0), now, true)
        redis.call('HINCRBY', keyof('stats'), 'lease_expired_requeued', 1)
        out[#out + 1] = id
        out[#out + 1] = t[4]
      else
        set_status(id, key, 'running', 'failed')
        redis.call('HSET', key, 'failure_reason', reason)
        mark_finished(id, key, now)
        redis.call('HINCRBY', keyof('stats'), 'lease_expired_failed', 1)
        out[#out + 1] = id
        out[#out + 1] = ''
      end
    else
      redis.call('ZREM', leases, id)
    end
  end
end
return out
