-- ARGV: labels, id, queue, priority ('' keeps the task's own), now, create_queue ('1' or
-- '0'). A queued task leaves its queue for another one, at the tail of its priority
-- there, in one step: no moment as a draft, nothing half done when the target is refused.
local id, q, prio, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local key = task_key(id)
local t = redis.call('HMGET', key, 'status', 'queue', 'priority')
if not t[1] then return {'missing'} end
if t[1] ~= 'queued' then return {'conflict', t[1]} end
require_covered(key)
if t[2] == q then return {'same_queue', q} end
if ARGV[6] ~= '1' and redis.call('SISMEMBER', keyof('queues'), q) == 0 then return {'no_queue', q} end
if prio == '' then prio = t[3] or '0' end
pull(id, t[2])
gang_dissolve(id)
set_queue(id, key, q)
push(id, key, q, tonumber(prio), now, false)
return reply(key)
