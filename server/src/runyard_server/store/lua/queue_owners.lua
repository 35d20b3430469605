-- ARGV: labels, queue name. Counts the owners of the queue's waiting tasks afresh
-- (ry:queue:{name}:owners, which push and pull keep from then on): for tasks queued
-- before the counts existed. The caller declared every task waiting in the queue.
-- Replies how many tasks it counted.
local q = ARGV[2]
local owners = keyof('queue_owners', q)
local ids = redis.call('ZRANGE', queue_key(q), 0, -1)
local counts = {}
for _, id in ipairs(ids) do
  local owner = redis.call('HGET', task_key(id), 'owner') or ''
  counts[owner] = (counts[owner] or 0) + 1
end
redis.call('DEL', owners)
for owner, n in pairs(counts) do redis.call('HSET', owners, owner, n) end
return #ids
