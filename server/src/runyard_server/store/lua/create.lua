-- ARGV: keys, id, now, queue ('' for none), priority, name, its folded form, n,
-- n hash field/value strings, then the index keys the task joins.
local id, now, q, prio = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local n = tonumber(ARGV[8])
local key = task_key(id)
local num = redis.call('INCR', K.task_seq)
local fields = {'num', num, 'status', 'draft', 'attempt', 0}
for i = 9, 8 + n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
for i = 9 + n, #ARGV do redis.call('ZADD', ARGV[i], num, id) end
redis.call('ZADD', K.status_idx .. 'draft', num, id)
index_name(id, num, ARGV[6], ARGV[7])
if q ~= '' then
  set_status(id, key, 'draft', 'queued')
  set_queue(id, key, q)
  push(id, key, q, prio, now, false)
end
return reply(key)
