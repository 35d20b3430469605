-- ARGV: keys, id, now, queue ('' for none), priority, name, its folded form,
-- create_queue ('1' or '0'), n, n hash field/value strings, then the index keys the
-- task joins.
local id, now, q, prio = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if q ~= '' and ARGV[8] ~= '1' and redis.call('SISMEMBER', K.queues, q) == 0 then
  return {'no_queue', q}
end
local n = tonumber(ARGV[9])
local key = task_key(id)
local num = redis.call('INCR', K.task_seq)
local fields = {'num', num, 'status', 'draft', 'attempt', 0}
for i = 10, 9 + n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
for i = 10 + n, #ARGV do redis.call('ZADD', ARGV[i], num, id) end
redis.call('ZADD', K.status_idx .. 'draft', num, id)
redis.call('ZADD', K.task_ids, 0, id)
index_name(id, num, ARGV[6], ARGV[7])
if q ~= '' then
  set_status(id, key, 'draft', 'queued')
  set_queue(id, key, q)
  push(id, key, q, prio, now, false)
end
return reply(key)
