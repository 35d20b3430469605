-- ARGV: labels, id, token, now, final status, exit code ('' none), reason ('' none).
local id, token, now, status = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = task_key(id)
local err = check_lease(key, token)
if err then return err end
require_covered(key)
release(id, key)
set_status(id, key, 'running', status)
mark_finished(id, key, now)
if ARGV[6] ~= '' then redis.call('HSET', key, 'exit_code', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', key, 'failure_reason', ARGV[7]) end
return reply(key)
