-- ARGV: labels, id, token, now, lease expiry.
local id, token, now, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = task_key(id)
local err = check_lease(key, token, id)
if err then return err end
if gang_extend(id, token, expiry) then
  -- The first rank to start marks the task started; each rank has its own lease.
  if redis.call('HEXISTS', key, 'started') == 1 then return reply(key) end
else
  redis.call('ZADD', keyof('leases'), expiry, id)
end
redis.call('HSET', key, 'started', now)
redis.call('ZADD', keyof('started_idx'), now, id)
return reply(key)
