-- ARGV: labels, queue name. Removes the name and its settings when no task waits in
-- the queue (tasks still running on it leave its running set as they stop).
local q = ARGV[2]
if redis.call('SISMEMBER', keyof('queues'), q) == 0 then return {'missing'} end
local depth = redis.call('ZCARD', queue_key(q))
if depth > 0 then return {'conflict', depth} end
redis.call('SREM', keyof('queues'), q)
redis.call('DEL', queue_key(q), since_key(q), keyof('queue_settings', q), keyof('queue_owners', q))
return {'ok'}
