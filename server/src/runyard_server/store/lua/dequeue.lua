-- ARGV: labels, id. queued -> draft, off its queue.
local id = ARGV[2]
local key = task_key(id)
local t = redis.call('HMGET', key, 'status', 'queue')
if not t[1] then return {'missing'} end
require_covered(key)
if t[1] ~= 'queued' then return {'conflict', t[1]} end
pull(id, t[2])
gang_dissolve(id)
set_status(id, key, 'queued', 'draft')
set_queue(id, key, false)
redis.call('HDEL', key, 'enqueued')
return reply(key)
