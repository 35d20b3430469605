-- ARGV: labels, id, token, now, lease expiry. draft -> running as a local run: no
-- worker; the script's own process pings to keep its lease and reports the end.
local id, token, now, expiry = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if not status then return {'missing'} end
if status ~= 'draft' then return {'conflict', status} end
set_status(id, key, 'draft', 'running')
redis.call('HSET', key, 'token', token, 'started', now, 'attempt', 1)
redis.call('ZADD', keyof('started_idx'), now, id)
redis.call('ZADD', keyof('leases'), expiry, id)
return reply(key)
