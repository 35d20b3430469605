-- ARGV: labels, queue name, then field, value pairs (value '' clears the field).
-- Changes an existing queue's settings; replies {'ok', HGETALL settings} or {'missing'}.
local q = ARGV[2]
if redis.call('SISMEMBER', keyof('queues'), q) == 0 then return {'missing'} end
local settings = keyof('queue_settings', q)
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', settings, ARGV[i])
  else
    redis.call('HSET', settings, ARGV[i], ARGV[i + 1])
  end
end
return {'ok', redis.call('HGETALL', settings)}
