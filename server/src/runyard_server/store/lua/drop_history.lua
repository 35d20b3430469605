-- ARGV: labels, id. Retention: a final task keeps its record and final metrics but not
-- its console output and metric series, wherever they are. Marks it history=dropped
-- and deletes the Redis copy; the caller then deletes the archive. Replies 'ok',
-- 'missing' or 'live' (not final).
local id = ARGV[2]
local key = task_key(id)
local status = redis.call('HGET', key, 'status')
if not status then return {'missing'} end
if status ~= 'completed' and status ~= 'failed' and status ~= 'aborted' then return {'live'} end
redis.call('HSET', key, 'history', 'dropped')
redis.call('DEL', keyof('logs', id), keyof('logseq', id), keyof('metrics', id))
return {'ok'}
