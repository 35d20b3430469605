-- ARGV: labels, id, queue, priority, now, create_queue ('1' or '0').
-- draft -> queued at the tail of its priority.
local id, q, prio, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if not status then return {'missing'} end
if status ~= 'draft' then return {'conflict', status} end
require_covered(key)
if ARGV[6] ~= '1' and redis.call('SISMEMBER', keyof('queues'), q) == 0 then return {'no_queue', q} end
set_status(id, key, 'draft', 'queued')
set_queue(id, key, q)
push(id, key, q, prio, now, false)
return reply(key)
