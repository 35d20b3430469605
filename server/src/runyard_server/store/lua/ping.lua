-- ARGV: labels, id, token, lease expiry. A local run is alive: extend its lease.
local id, token, expiry = ARGV[2], ARGV[3], ARGV[4]
local key = task_key(id)
local err = check_lease(key, token)
if err then return err end
redis.call('ZADD', keyof('leases'), expiry, id)
return reply(key)
