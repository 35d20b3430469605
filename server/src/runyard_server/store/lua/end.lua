-- ARGV: labels, id, token, now, final status, exit code ('' none), reason ('' none).
local id, token, now, status = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local code, reason = ARGV[6], ARGV[7]
local key = task_key(id)
local err = check_lease(key, token, id)
if err then return err end
require_covered(key)
local gang = gang_end(id, key, token, status, code, reason)
if gang == false then return reply(key) end  -- a rank of a gang whose others still run
if gang then status, code, reason = gang[1], gang[2], gang[3] end
release(id, key)
set_status(id, key, 'running', status)
mark_finished(id, key, now)
if code ~= '' then redis.call('HSET', key, 'exit_code', code) end
if reason ~= '' then redis.call('HSET', key, 'failure_reason', reason) end
return reply(key)
