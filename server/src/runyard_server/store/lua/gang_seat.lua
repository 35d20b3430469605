-- ARGV: labels, task id, this member's lease token, its worker id, now, leave ('1' or
-- '0'). A member of a gang asks whether it formed: {'ok', task hash, rank, size, rank
-- 0's offer} once it has (the rank is seated on its worker); {'forming'} while it has
-- not; {'gone'} once it was released (deadline passed, task aborted, dequeued or moved).
-- With leave, a member whose claim stops waiting leaves a gang still forming: the last
-- member takes its place, so members stay numbered 0..joined-1.
local id, token, w, now, leave = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
local key, gk = task_key(id), gang_key(id)
local g = redis.call('HMGET', gk, 'formed', 'r:' .. token, 'deadline', 'size', 'joined')
if not g[2] then return {'gone'} end
if g[1] then
  redis.call('SADD', running_key(w), id)
  return {'ok', redis.call('HGETALL', key), g[2], g[4], redis.call('HGET', gk, 'a:0')}
end
if tonumber(g[3]) <= now then
  gang_dissolve(id)
  return {'gone'}
end
if not leave then return {'forming'} end
local i, last = tonumber(g[2]), tonumber(g[5]) - 1
redis.call('HDEL', gk, 'r:' .. token, 'm:' .. w)
if last == 0 then
  gang_dissolve(id)
  return {'gone'}
end
if i ~= last then
  local f = redis.call('HMGET', gk, 'w:' .. last, 'k:' .. last, 'a:' .. last, 'p:' .. last)
  redis.call('HSET', gk, 'w:' .. i, f[1], 'k:' .. i, f[2], 'a:' .. i, f[3], 'm:' .. f[1], i,
    'r:' .. f[2], i, 'p:' .. i, f[4])
end
redis.call('HDEL', gk, 'w:' .. last, 'k:' .. last, 'a:' .. last, 'p:' .. last)
redis.call('HSET', gk, 'joined', last)
return {'gone'}
