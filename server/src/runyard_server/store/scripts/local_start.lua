-- ARGV: keys, id, token, now. draft -> running as a local run: no worker, no lease;
-- the script's own process reports the end with the token.
local id, token, now = ARGV[2], ARGV[3], ARGV[4]
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if not status then return {'missing'} end
if status ~= 'draft' then return {'conflict', status} end
set_status(id, key, 'draft', 'running')
redis.call('HSET', key, 'token', token, 'started', now, 'attempt', 1)
return reply(key)
