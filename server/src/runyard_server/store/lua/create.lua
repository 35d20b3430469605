-- ARGV: labels, id, now, queue ('' for none), priority, name, its folded form,
-- create_queue ('1' or '0'), n, n hash field/value strings, then how many index keys
-- the task joins (declared as join:1, join:2, ...).
local id, now, q, prio = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if q ~= '' and ARGV[8] ~= '1' and redis.call('SISMEMBER', keyof('queues'), q) == 0 then
  return {'no_queue', q}
end
local n = tonumber(ARGV[9])
local key = task_key(id)
-- The caller declared the name strings of the num it expected; a create that came
-- in between may have taken it (the caller then plans again).
names_keys(tonumber(redis.call('GET', keyof('task_seq')) or '0') + 1)
local num = redis.call('INCR', keyof('task_seq'))
local fields = {'num', num, 'status', 'draft', 'attempt', 0}
for i = 10, 9 + n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', key, unpack(fields))
for i = 1, tonumber(ARGV[10 + n]) do redis.call('ZADD', keyof('join', i), num, id) end
redis.call('ZADD', keyof('status_idx', 'draft'), num, id)
redis.call('ZADD', keyof('task_ids'), 0, id)
index_name(id, num, ARGV[6], ARGV[7])
if q ~= '' then
  set_status(id, key, 'draft', 'queued')
  set_queue(id, key, q)
  push(id, key, q, prio, now, false)
end
return reply(key)
