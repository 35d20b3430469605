-- ARGV: labels, id, token, now, lease expiry.
local id, token, now, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = task_key(id)
local err = check_lease(key, token)
if err then return err end
redis.call('HSET', key, 'started', now)
redis.call('ZADD', keyof('started_idx'), now, id)
redis.call('ZADD', keyof('leases'), expiry, id)
return reply(key)
