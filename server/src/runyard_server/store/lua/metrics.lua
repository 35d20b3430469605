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
-- Per series, where in ARGV its last, smallest and largest value of the batch are (the
-- text goes to Redis as given: Lua would print a number with 14 digits only), so the
-- indexes take one write per series, not one per point.
local last_at, low, high, low_at, high_at = {}, {}, {}, {}, {}
for i = 4, #ARGV, 3 do
  redis.call('RPUSH', points, ARGV[i + 1])
  local s, v = ARGV[i], tonumber(ARGV[i + 2])
  last_at[s] = i + 2
  if not low[s] or v < low[s] then low[s], low_at[s] = v, i + 2 end
  if not high[s] or v > high[s] then high[s], high_at[s] = v, i + 2 end
end
for s, at in pairs(last_at) do
  redis.call('HSET', final, s, ARGV[at])
  redis.call('ZADD', keyof('metric_idx', s), ARGV[at], id)
  redis.call('SADD', keyof('metric_series'), s)
  -- LT / GT change a score only when the new one is lower / higher (and add a new task).
  redis.call('ZADD', keyof('metric_min', s), 'LT', ARGV[low_at[s]], id)
  redis.call('ZADD', keyof('metric_max', s), 'GT', ARGV[high_at[s]], id)
end
return {'ok', count}
