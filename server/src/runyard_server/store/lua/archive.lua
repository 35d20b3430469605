-- ARGV: labels, id, the archive's last chunk id ('' for none), its metric point count,
-- line count and chunk count. Called once the archive is durable in the history store:
-- if the task is final, not yet archived, and its stream and metric list still end
-- where the archive does, mark it archived and drop those keys, in one step. Replies
-- 'ok', 'missing', 'done' (archived before), 'live' (not final) or 'changed' (lines
-- or points came after the archive was read: write it again).
local id, last, points = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = task_key(id)
local t = redis.call('HMGET', key, 'status', 'history')
if not t[1] then return {'missing'} end
if t[2] then return {'done'} end
if t[1] ~= 'completed' and t[1] ~= 'failed' and t[1] ~= 'aborted' then return {'live'} end
local newest = redis.call('XREVRANGE', keyof('logs', id), '+', '-', 'COUNT', 1)
local stored = ''
if newest[1] then stored = newest[1][1] end
if stored ~= last or redis.call('LLEN', keyof('metrics', id)) ~= points then return {'changed'} end
redis.call('HSET', key, 'history', 'archived', 'log_lines', ARGV[5], 'log_chunks', ARGV[6])
redis.call('DEL', keyof('logs', id), keyof('logseq', id), keyof('metrics', id))
redis.call('HINCRBY', keyof('stats'), 'archived_tasks', 1)
return {'ok'}
