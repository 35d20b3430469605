-- ARGV: labels, id, now, queue ('' for none), priority, name, its folded form,
-- create_queue ('1' or '0'), n, n hash field/value strings, how many index keys the
-- task joins (declared as join:1, join:2, ...), then the request's hash and the TTL of
-- its Idempotency-Key record (declared as idem when the request has a key).
local id, now, q, prio = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local n = tonumber(ARGV[9])
local request, idem_ttl = ARGV[11 + n], ARGV[12 + n]
-- A key seen before answers the task its first request made (store/idempotency.py);
-- the caller declared that task as it read the record.
local idem = K['idem']
if idem then
  local first = redis.call('HMGET', idem, 'task', 'request')
  if first[1] then
    if first[2] ~= request then return {'idem_other', first[1]} end
    local made = keyof('task', first[1])
    if redis.call('EXISTS', made) == 0 then return {'idem_gone', first[1]} end
    return {'replayed', first[1], redis.call('HGETALL', made)}
  end
end
if q ~= '' and ARGV[8] ~= '1' and redis.call('SISMEMBER', keyof('queues'), q) == 0 then
  return {'no_queue', q}
end
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
if idem then
  redis.call('HSET', idem, 'task', id, 'request', request)
  redis.call('EXPIRE', idem, idem_ttl)
end
return reply(key)
