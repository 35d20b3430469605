-- ARGV: labels, then per task five strings: id, name, its folded form, started,
-- finished ('' for none). Puts a task recorded before the listing indexes existed
-- (0.1) into them: ry:ids, the started/finished/name indexes, the names strings and
-- the metric indexes of its final values. A task already in ry:ids is left alone, so
-- a rerun (or two servers starting at once) adds nothing twice; so is one whose name
-- string or metric indexes the caller did not declare (its finals changed since it
-- read them): the next start indexes it. Replies how many it indexed.
local done = 0
for i = 2, #ARGV, 5 do
  local id, name, folded, started, finished =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = task_key(id)
  local num = redis.call('HGET', key, 'num')
  local final = redis.call('HGETALL', keyof('final', id))
  local known = num ~= false and declared('names', math.floor(tonumber(num) / NAMES_PER_KEY))
  for j = 1, #final, 2 do known = known and declared('metric_idx', final[j]) end
  if known and not redis.call('ZSCORE', keyof('task_ids'), id) then
    if started ~= '' then redis.call('ZADD', keyof('started_idx'), started, id) end
    if finished ~= '' then redis.call('ZADD', keyof('finished_idx'), finished, id) end
    index_name(id, num, name, folded)
    for j = 1, #final, 2 do
      redis.call('ZADD', keyof('metric_idx', final[j]), final[j + 1], id)
      redis.call('SADD', keyof('metric_series'), final[j])
    end
    redis.call('ZADD', keyof('task_ids'), 0, id)
    done = done + 1
  end
end
return done
