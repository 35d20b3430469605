-- ARGV: labels, id, max points per task, then triplets (series, point JSON, value).
-- All points are stored or none: a batch that would pass the limit is refused whole.
-- An archived task's series live in the history store and take no more points.
local id, limit = ARGV[2], tonumber(ARGV[3])
local key = task_key(id)
local t = redis.call('HMGET', key, 'status', 'history')
if not t[1] then return {'missing'} end
if t[2] then return {'archived', t[1]} end
local count = (#ARGV - 3) / 3
local stored = redis.call('LLEN', keyof('metrics', id))
if stored + count > limit then return {'full', stored} end
local points, final = keyof('metrics', id), keyof('final', id)
for i = 4, #ARGV, 3 do
  redis.call('RPUSH', points, ARGV[i + 1])
  redis.call('HSET', final, ARGV[i], ARGV[i + 2])
  redis.call('ZADD', keyof('metric_idx', ARGV[i]), ARGV[i + 2], id)
  redis.call('SADD', keyof('metric_series'), ARGV[i])
end
return {'ok', count}
