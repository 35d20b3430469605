-- One page of GET /tasks, sorted across every page (store/listing.py explains the plan).
-- ARGV: keys, limit, sort kind, sort index, descending ('1' | '0'), cursor phase
-- ('' on the first page), cursor value, cursor id, folded search ('' for none), most
-- candidates a walk looks at, most matches gathered and sorted here, then the filter
-- indexes (sorted sets scored by num).
--
-- The order: phase 'a' holds the tasks in the sort index S, in Redis' own order of S
-- ((score, member) ascending, or ZREVRANGE's order when descending); for kind 'score'
-- (a time or a metric) the tasks missing from S follow as phase 'b', newest first.
-- Kind 'num' sorts by creation: S is then any index scored by num (the smallest
-- filter drives). Kind 'lex' sorts by name: S is ry:idx:name, members '{name}\0{id}'.
-- A cursor is the last row given: {'a', score (the member for 'lex'), id} or
-- {'b', num, id}. It stays valid when that row is deleted or changes its place.
-- Replies {ids of the page, cursor or {}}.
local limit = tonumber(ARGV[2])
local kind, sorted, desc = ARGV[3], ARGV[4], ARGV[5] == '1'
local phase, cvalue, cid = ARGV[6], ARGV[7], ARGV[8]
local search, budget, gather = ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local filters = {}
for i = 12, #ARGV do filters[#filters + 1] = ARGV[i] end
local CHUNK = 500

-- id -> true for every task whose folded name contains the search string.
local function name_matches()
  local found, count = {}, 0
  local top = tonumber(redis.call('GET', K.task_seq) or '0')
  for n = 0, math.floor(top / K.names_per_key) do
    local text = redis.call('GET', K.names .. n)
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

if kind == 'num' then sorted = source or K.all_idx end

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

-- Walks S from the cursor in the page's order; nil when S ran out first.
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
    local chunk = redis.call(desc and 'ZREVRANGE' or 'ZRANGE', sorted, pos, pos + CHUNK - 1, 'WITHSCORES')
    if #chunk == 0 then break end
    for i = 1, #chunk, 2 do
      local member, score = chunk[i], chunk[i + 1]
      local id = id_of(member)
      local value = score
      if kind == 'lex' then value = member end
      examined = examined + 1
      if passes(id, skip) then
        if #page == limit then return reply(last) end
        page[#page + 1] = id
        last = {'a', value, id}
      end
      if examined >= budget then return reply({'a', value, id}) end
    end
    pos = pos + CHUNK
  end
  return nil
end

-- Walks the tasks missing from S, newest first, from a phase 'b' cursor or the start.
local function walk_b(driver)
  local size = redis.call('ZCARD', driver)
  local pos = 0
  if phase == 'b' then pos = redis.call('ZCOUNT', driver, cvalue, '+inf') end
  while pos < size do
    local chunk = redis.call('ZREVRANGE', driver, pos, pos + CHUNK - 1, 'WITHSCORES')
    if #chunk == 0 then break end
    for i = 1, #chunk, 2 do
      local id, num = chunk[i], chunk[i + 1]
      examined = examined + 1
      if not redis.call('ZSCORE', sorted, id) and passes(id, driver) then
        if #page == limit then return reply(last) end
        page[#page + 1] = id
        last = {'b', num, id}
      end
      if examined >= budget then return reply({'b', num, id}) end
    end
    pos = pos + CHUNK
  end
  return reply({})
end

-- Few candidates: collect them all, order them by their rank in S, cut the page.
local function gathered()
  local rows = {}
  local function add(id)
    if not passes(id, source) then return end
    local rank
    if kind == 'lex' then
      local name = redis.call('HGET', task_key(id), 'name')
      if not name then return end
      rank = redis.call('ZRANK', sorted, sort_member(name, id))
      if not rank then return end
    else
      rank = redis.call('ZRANK', sorted, id)
    end
    local num = tonumber(redis.call('ZSCORE', K.all_idx, id))
    if num then rows[#rows + 1] = {id = id, rank = rank, num = num} end
  end
  if source then
    for _, id in ipairs(redis.call('ZRANGE', source, 0, -1)) do add(id) end
  else
    for id in pairs(matches) do add(id) end
  end
  table.sort(rows, function(x, y)
    if x.rank and y.rank then
      if desc then return x.rank > y.rank end
      return x.rank < y.rank
    end
    if x.rank or y.rank then return x.rank ~= false end
    return x.num > y.num
  end)
  local before, through = -1, -1
  if phase == 'a' then before, through = cursor_counts() end
  local function after_cursor(row)
    if phase == '' then return true end
    if phase == 'b' then return not row.rank and row.num < tonumber(cvalue) end
    if not row.rank then return true end
    if desc then return row.rank < before end
    return row.rank >= through
  end
  for _, row in ipairs(rows) do
    if after_cursor(row) then
      if #page == limit then return reply(last) end
      page[#page + 1] = row.id
      if row.rank then
        local value
        if kind == 'lex' then
          value = redis.call('ZRANGE', sorted, row.rank, row.rank)[1]
        else
          value = redis.call('ZSCORE', sorted, row.id)
        end
        last = {'a', value, row.id}
      else
        last = {'b', tostring(row.num), row.id}
      end
    end
  end
  return reply({})
end

if smallest <= gather then return gathered() end
if phase ~= 'b' then
  local done = walk_a()
  if done then return done end
  if kind ~= 'score' then return reply({}) end
  phase = ''
end
return walk_b(source or K.all_idx)
