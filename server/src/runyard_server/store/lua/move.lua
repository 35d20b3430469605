-- ARGV: labels, queue, id, to (top|bottom|up|down). Reorders one waiting task.
local q, id, to = ARGV[2], ARGV[3], ARGV[4]
local qk = queue_key(q)
local rank = redis.call('ZRANK', qk, id)
if not rank then return {'missing'} end
local score = tonumber(redis.call('ZSCORE', qk, id))
local other = nil
if to == 'top' then
  other = redis.call('ZRANGE', qk, 0, 0, 'WITHSCORES')
  if other[1] ~= id then redis.call('ZADD', qk, tonumber(other[2]) - 1, id) end
elseif to == 'bottom' then
  other = redis.call('ZRANGE', qk, -1, -1, 'WITHSCORES')
  if other[1] ~= id then redis.call('ZADD', qk, tonumber(other[2]) + 1, id) end
else
  local at = rank - 1
  if to == 'down' then at = rank + 1 end
  if at >= 0 then
    other = redis.call('ZRANGE', qk, at, at, 'WITHSCORES')
    if other[1] then
      redis.call('ZADD', qk, other[2], id)
      redis.call('ZADD', qk, score, other[1])
    end
  end
end
return {'ok'}
