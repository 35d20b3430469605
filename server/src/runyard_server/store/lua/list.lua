-- One page of GET /tasks, sorted across every page (store/listing.py explains the plan).
-- KEYS: the sort index (label 'sorted'), the filter indexes (sorted sets scored by
-- num; 'filter:1', 'filter:2', ...), the singletons and, with a search, every name
-- string. ARGV: labels, limit, sort kind, how many filters, descending ('1' | '0'),
-- cursor phase ('' on the first page), cursor value, cursor id, folded search ('' for
-- none), most rows a walk looks at before it may gather instead, most candidates
-- gathered without a walk first, most candidates gathered after a walk.
--
-- The order: phase 'a' holds the tasks in the sort index S, in Redis' own order of S
-- ((score, member) ascending, or ZREVRANGE's order when descending); for kind 'score'
-- (a time or a metric) the tasks missing from S follow as phase 'b', newest first.
-- Kind 'num' sorts by creation: S is then any index scored by num (the smallest
-- filter drives). Kind 'lex' sorts by name: S is ry:idx:name, members '{name}\0{id}'.
-- A cursor is the last row given: {'a', score (the member for 'lex'), id} or
-- {'b', num, id}. It stays valid when that row is deleted or changes its place.
-- Replies {ids of the page, cursor or {}}, or {'tasks', ids} when a sort by name
-- gathers candidates whose hashes (their names) the caller did not declare: it
-- declares them and asks again.
local limit = tonumber(ARGV[2])
local kind, sorted, desc = ARGV[3], keyof('sorted'), ARGV[5] == '1'
local phase, cvalue, cid = ARGV[6], ARGV[7], ARGV[8]
local search, budget, gather_now = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local gather_max = tonumber(ARGV[12])
local filters = {}
for i = 1, tonumber(ARGV[4]) do filters[i] = keyof('filter', i) end
local CHUNK = 500

-- id -> true for every task whose folded name contains the search string.
local function name_matches()
  local found, count = {}, 0
  local top = tonumber(redis.call('GET', keyof('task_seq')) or '0')
  for n = 0, math.floor(top / NAMES_PER_KEY) do
    local text = redis.call('GET', keyof('names', n))
    local p = 1
    while text do
      local at = string.find(text, search, p, true)
      if not at then break end
      local tab = string.find(text, '\t', at, true)
      local nl = string.find(text, '\n', at, true)
      -- Past the record's tab the hit was in the id, and the name has none.
      if tab and tab < nl then
        found[string.sub(text, tab + 1, nl - 1)] = true
        count = count + 1
      end
      p = nl + 1
    end
  end
  return found, count
end

local matches, match_count = nil, 0
if search ~= '' then matches, match_count = name_matches() end

-- The smallest source of candidates: a filter index, or the name matches (key false).
local smallest, source = math.huge, nil
for _, f in ipairs(filters) do
  local size = redis.call('ZCARD', f)
  if size < smallest then smallest, source = size, f end
end
if matches and match_count < smallest then smallest, source = match_count, false end

if kind == 'num' then sorted = source or keyof('all_idx') end

local function passes(id, skip)
  for _, f in ipairs(filters) do
    if f ~= skip and not redis.call('ZSCORE', f, id) then return false end
  end
  return matches == nil or matches[id] == true
end

local function id_of(member)
  if kind ~= 'lex' then return member end
  return string.sub(member, string.find(member, '\0', 1, true) + 1)
end

-- How many members of S come before the cursor row and how many up to it, ascending.
local function cursor_counts()
  if kind == 'lex' then
    local rank = redis.call('ZRANK', sorted, cvalue)
    if rank then return rank, rank + 1 end
    local before = redis.call('ZLEXCOUNT', sorted, '-', '(' .. cvalue)
    return before, before
  end
  local score = redis.call('ZSCORE', sorted, cid)
  if score and tonumber(score) == tonumber(cvalue) then
    local rank = redis.call('ZRANK', sorted, cid)
    return rank, rank + 1
  end
  -- The row left S or moved: find its place among the ties on its old score.
  local lo = redis.call('ZCOUNT', sorted, '-inf', '(' .. cvalue)
  local hi = redis.call('ZCOUNT', sorted, '-inf', cvalue)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if redis.call('ZRANGE', sorted, mid, mid)[1] < cid then lo = mid + 1 else hi = mid end
  end
  return lo, lo
end

-- The page so far, the rows looked at, and the cursor of the page's last row.
local page, examined, last = {}, 0, nil

local function reply(cursor) return {page, cursor} end

-- Adds a row to the page; true when the page was full already (the row is the one
-- past it, which says that a next page exists).
local function take(id, cursor)
  if #page == limit then return true end
  page[#page + 1] = id
  last = cursor
  return false
end

-- About how many candidates gathering would cost, in candidates gathered in Lua.
local function estimate()
  -- No filter and no search: gathering means a ZDIFF over every task (≈10 ms per
  -- 100,000 even unloaded), while the walk keeps every row it looks at.
  if source == nil then return math.huge end
  if kind ~= 'lex' and source ~= false then return 0 end  -- gathered_sets: C speed
  return smallest
end

-- True when a walk past its budget should stop and the candidates be gathered
-- instead: only when they are few, else the walk goes on to the end.
local function over_budget()
  examined = examined + 1
  if examined <= budget then return false end
  if estimate() <= gather_max then return true end
  budget = math.huge
  return false
end

-- Walks S from the cursor in the page's order: a reply, nil when S ran out, or false.
local function walk_a()
  local size = redis.call('ZCARD', sorted)
  local pos = 0
  if phase == 'a' then
    local before, through = cursor_counts()
    pos = through
    if desc then pos = size - before end
  end
  local skip = nil
  if kind == 'num' then skip = sorted end
  while pos < size do
    local chunk = redis.call(desc and 'ZREVRANGE' or 'ZRANGE', sorted, pos, pos + CHUNK - 1)
    if #chunk == 0 then break end
    for _, member in ipairs(chunk) do
      if over_budget() then return false end
      local id = id_of(member)
      if passes(id, skip) then
        local value = member
        if kind ~= 'lex' then value = redis.call('ZSCORE', sorted, id) end
        if take(id, {'a', value, id}) then return reply(last) end
      end
    end
    pos = pos + CHUNK
  end
  return nil
end

-- Walks the tasks missing from S, newest first: a reply, or false past the budget.
local function walk_b(driver)
  local size = redis.call('ZCARD', driver)
  local pos = 0
  if phase == 'b' then pos = redis.call('ZCOUNT', driver, cvalue, '+inf') end
  if phase == 'a' then pos = 0 end
  while pos < size do
    local chunk = redis.call('ZREVRANGE', driver, pos, pos + CHUNK - 1, 'WITHSCORES')
    if #chunk == 0 then break end
    for i = 1, #chunk, 2 do
      if over_budget() then return false end
      local id, num = chunk[i], chunk[i + 1]
      if not redis.call('ZSCORE', sorted, id) and passes(id, driver) then
        if take(id, {'b', num, id}) then return reply(last) end
      end
    end
    pos = pos + CHUNK
  end
  return reply({})
end

-- Appends to the page, after the cursor of phase `from` ('' for the start), every
-- candidate in ids that passes, in the page's order; with missing_only, only the
-- tasks missing from S. Each row gets one number that orders it (its rank in S in
-- the page's direction, then the tasks missing from S, newest first), so the sort
-- is table.sort's own comparison.
local function gathered(ids, from, missing_only)
  local size = redis.call('ZCARD', sorted)
  local top = tonumber(redis.call('GET', keyof('task_seq')) or '0')
  local function order_of(rank) if desc then return size - 1 - rank end return rank end
  local cut = -1
  if from == 'a' then
    local before, through = cursor_counts()
    cut = through
    if desc then cut = size - before end
  elseif from == 'b' then
    cut = size + top - tonumber(cvalue) + 1
  end
  local orders, row_of = {}, {}
  for _, id in ipairs(ids) do
    local order = nil
    if passes(id, nil) then
      local rank
      if kind == 'lex' then
        local name = redis.call('HGET', task_key(id), 'name')
        if name then rank = redis.call('ZRANK', sorted, sort_member(name, id)) end
      else
        rank = redis.call('ZRANK', sorted, id)
      end
      if rank and not missing_only then
        order = order_of(rank)
      elseif rank == false and kind == 'score' then
        local num = redis.call('ZSCORE', keyof('all_idx'), id)
        if num then order = size + top - tonumber(num) end
      end
    end
    if order and order >= cut then
      orders[#orders + 1] = order
      row_of[order] = id
    end
  end
  table.sort(orders)
  for _, order in ipairs(orders) do
    local id, cursor = row_of[order], nil
    if order >= size then
      cursor = {'b', tostring(size + top - order), id}
    elseif kind == 'lex' then
      local rank = order
      if desc then rank = size - 1 - order end
      cursor = {'a', redis.call('ZRANGE', sorted, rank, rank)[1], id}
    else
      cursor = {'a', redis.call('ZSCORE', sorted, id), id}
    end
    if take(id, cursor) then return reply(last) end
  end
  return reply({})
end

-- The tasks that may pass the filters and the search, for gathered(): the filters
-- intersected in Redis (ZINTER) or the search's matches (never all tasks: see estimate).
local function candidates()
  if source == false then
    local ids = {}
    for id in pairs(matches) do ids[#ids + 1] = id end
    return ids
  end
  if #filters == 1 then return redis.call('ZRANGE', source, 0, -1) end
  return redis.call('ZINTER', #filters, unpack(filters))
end

-- True when the row (score, id) of S comes after the phase 'a' cursor.
local function after_a(score, id)
  local x, c = tonumber(score), tonumber(cvalue)
  if desc then return x < c or (x == c and id < cid) end
  return x > c or (x == c and id > cid)
end

-- gathered() for a sort by score or creation with the filters as the source: Redis
-- intersects S with the filters (ZINTER, in S order) and takes the filtered tasks
-- missing from S (ZDIFF, by num), so no candidate costs a call of its own.
local function gathered_sets(from, missing_only)
  if from ~= 'b' and not missing_only then
    local args = {'ZINTER', 1 + #filters, sorted}
    for _, f in ipairs(filters) do args[#args + 1] = f end
    args[#args + 1] = 'WEIGHTS'
    args[#args + 1] = 1
    for _ = 1, #filters do args[#args + 1] = 0 end
    args[#args + 1] = 'WITHSCORES'
    local rows = redis.call(unpack(args))
    local n = #rows / 2
    for step = 0, n - 1 do
      local i = step
      if desc then i = n - 1 - step end
      local id, score = rows[2 * i + 1], rows[2 * i + 2]
      if (matches == nil or matches[id]) and (from == '' or after_a(score, id)) then
        if take(id, {'a', score, id}) then return reply(last) end
      end
    end
    if kind ~= 'score' then return reply({}) end
  end
  local base = source or keyof('all_idx')
  local rows = redis.call('ZDIFF', 2, base, sorted, 'WITHSCORES')
  for i = #rows - 1, 1, -2 do
    local id, num = rows[i], rows[i + 1]
    if (from ~= 'b' or tonumber(num) < tonumber(cvalue)) and passes(id, base) then
      if take(id, {'b', num, id}) then return reply(last) end
    end
  end
  return reply({})
end

local function gather(from, missing_only)
  if kind ~= 'lex' and source ~= false then return gathered_sets(from, missing_only) end
  local ids = candidates()
  if kind == 'lex' then
    local undeclared = {}
    for _, id in ipairs(ids) do
      if not declared('task', id) then undeclared[#undeclared + 1] = id end
    end
    if #undeclared > 0 then return {'tasks', undeclared} end
  end
  return gathered(ids, from, missing_only)
end

if smallest <= gather_now then return gather(phase, false) end
if phase ~= 'b' then
  local done = walk_a()
  if done == false then
    page, last = {}, nil
    return gather(phase, false)
  end
  if done then return done end
  if kind ~= 'score' then return reply({}) end
end
-- The tail, after the rows from S the page may already hold.
local kept, kept_last = #page, last
local done = walk_b(source or keyof('all_idx'))
if done ~= false then return done end
for i = #page, kept + 1, -1 do page[i] = nil end
last = kept_last
local from = ''
if phase == 'b' then from = 'b' end
return gather(from, true)
