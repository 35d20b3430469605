-- ARGV: keys, then per task five strings: id, name, its folded form, started, finished
-- ('' for none). Puts a task recorded before the listing indexes existed (0.1) into
-- them: ry:ids, the started/finished/name indexes, the names strings and the metric
-- indexes of its final values. A task already in ry:ids is left alone, so a rerun (or
-- two servers starting at once) adds nothing twice. Replies how many it indexed.
local done = 0
for i = 2, #ARGV, 5 do
  local id, name, folded, started, finished =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = task_key(id)
  local num = redis.call('HGET', key, 'num')
  if num and not redis.call('ZSCORE', K.task_ids, id) then
    if started ~= '' then redis.call('ZADD', K.started_idx, started, id) end
    if finished ~= '' then redis.call('ZADD', K.finished_idx, finished, id) end
    index_name(id, num, name, folded)
    local final = redis.call('HGETALL', key .. ':final')
    for j = 1, #final, 2 do
      redis.call('ZADD', K.metric_idx .. final[j], final[j + 1], id)
      redis.call('SADD', K.metric_series, final[j])
    end
    redis.call('ZADD', K.task_ids, 0, id)
    done = done + 1
  end
end
return done
