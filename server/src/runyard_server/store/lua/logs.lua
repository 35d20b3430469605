-- ARGV: keys, id, lease token ('' for none), seq, lines dropped before this batch,
-- then one LogLine JSON per line.
-- A batch is stored once per lease token (one claim) and seq. A token is current only
-- while its task runs: once the lease expired and the task went back to its queue,
-- the old attempt's output is refused even before another claim replaces the token.
local id, token, seq = ARGV[2], ARGV[3], ARGV[4]
local key = task_key(id)
local current = redis.call('HMGET', key, 'status', 'token')
if not current[1] then return {'missing'} end
if token ~= '' then
  local err = check_lease(key, token)
  if err then return err end
end
local batch = 'user:' .. seq
if token ~= '' then batch = token .. ':' .. seq end
if redis.call('SADD', key .. ':logseq', batch) == 0 then return {'duplicate'} end
local bytes = 0
local dropped = tonumber(ARGV[5])
if dropped > 0 then redis.call('HINCRBY', key, 'logs_dropped', dropped) end
for i = 6, #ARGV do
  redis.call('XADD', key .. ':logs', '*', 'l', ARGV[i])
  bytes = bytes + #ARGV[i]
end
redis.call('HINCRBY', K.stats, 'log_bytes', bytes)
return {'ok'}
