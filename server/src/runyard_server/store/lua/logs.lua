-- ARGV: labels, id, lease token ('' for none), seq, lines dropped before this batch,
-- chunk payload, its line count.
-- A batch is one stream entry (a chunk, see log_chunks.py), stored once per lease
-- token (one claim) and seq. A token is current only while its task runs: once the
-- lease expired and the task went back to its queue, the old attempt's output is
-- refused even before another claim replaces the token. An archived task's output
-- lives in the history store and takes no more lines.
local id, token, seq, payload = ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local key = task_key(id)
local current = redis.call('HMGET', key, 'status', 'token', 'history')
if not current[1] then return {'missing'} end
if token ~= '' then
  local err = check_lease(key, token, id)
  if err then return err end
end
if current[3] then return {'archived', current[1]} end
local batch = 'user:' .. seq
if token ~= '' then batch = token .. ':' .. seq end
if redis.call('SADD', keyof('logseq', id), batch) == 0 then return {'duplicate'} end
local dropped = tonumber(ARGV[5])
if dropped > 0 then redis.call('HINCRBY', key, 'logs_dropped', dropped) end
if tonumber(ARGV[7]) > 0 then
  redis.call('XADD', keyof('logs', id), '*', 'n', ARGV[7], 'c', payload)
end
redis.call('HINCRBY', keyof('stats'), 'log_bytes', #payload)
return {'ok'}
