-- ARGV: labels, then ids of tasks found running. Puts each one still running on a
-- worker into its queue's running set (ry:queue:{name}:running, scored by its gpus) and
-- its owner's and project's usage (ry:quota-running):
-- tasks claimed before the sets existed, so a queue limit counts them from the start.
-- A task already there is scored again, the same; one whose queue the caller did not
-- declare (it moved since) is left. Replies how many it added.
local added = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local t = redis.call('HMGET', task_key(id), 'status', 'worker', 'queue', 'gpus')
  if t[1] == 'running' and t[2] and t[3] and declared('queue_running', t[3]) then
    added = added + redis.call('ZADD', keyof('queue_running', t[3]), tonumber(t[4] or 0), id)
    local user, project = quota_members(id, task_key(id))
    redis.call('ZADD', keyof('quota_running'), 0, user, 0, project)
  end
end
return added
