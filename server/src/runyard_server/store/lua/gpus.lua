-- Typed and fractional GPU requests: where a task's GPUs go on the claiming agent.
-- Prepended to claim.lua after common.lua (store/scripts.py). The agent's GPUs come as
-- store/gpu_placement.py encodes them: JSON rows {index, free share, memory_gb, NVLink
-- group, lowered name}, or a plain number from an agent older than typed requests (its
-- count of free whole GPUs). A task hash holds gpus (0, a share or a whole number),
-- gpu_mem (per GPU, at least), gpu_pat (its gpu_model glob as an anchored Lua pattern,
-- lowered; '' for any model) and gpu_link ('nvlink' or 'any'); tasks stored before
-- these fields have none of the last three.

-- The agent's GPU rows, or nil and the count of whole GPUs an older agent sent.
local function agent_gpus(arg)
  local count = tonumber(arg)
  if count then return nil, count end
  return cjson.decode(arg), 0
end

-- True when the GPU's name, or a tail of it that starts after a space, matches pat
-- (so 'a100*' matches 'nvidia a100-sxm4-80gb'). '^' anchors at find's start position.
local function model_matches(name, pat)
  if pat == '' or string.find(name, pat) then return true end
  local at = string.find(name, ' ', 1, true)
  while at do
    if string.find(name, pat, at + 1) then return true end
    at = string.find(name, ' ', at + 1, true)
  end
  return false
end

-- The GPU rows a task may use, in the agent's (index) order: enough memory, the model.
-- One claim sees one agent's GPUs, and the tasks it scans mostly ask alike: each kind
-- of request is matched once per claim.
local matched = {}
local function qualifying(rows, gpu_mem, pat)
  local kind = gpu_mem .. '\0' .. pat
  if matched[kind] then return matched[kind] end
  local found = {}
  for _, g in ipairs(rows) do
    if g[3] >= gpu_mem and model_matches(g[5], pat) then found[#found + 1] = g end
  end
  matched[kind] = found
  return found
end

-- A share goes on the qualifying GPU with the least free share that still holds it,
-- so shared GPUs fill before a whole one is broken into; a GPU a whole task holds (or
-- that is busy) has free 0 and never takes one.
local function place_share(rows, need)
  local best = nil
  for _, g in ipairs(rows) do
    if g[2] >= need and (not best or g[2] < best[2]) then best = g end
  end
  if best then return {best[1]} end
  return nil
end

-- Whole GPUs only where free == 1 (no share on them). With nvlink, all in one NVLink
-- group: the group with the fewest free GPUs that still holds the task, so big groups
-- stay whole for big tasks.
local function place_whole(rows, need, link)
  local groups, order = {}, {}
  for _, g in ipairs(rows) do
    if g[2] >= 1 then
      local id = 0
      if link == 'nvlink' then id = g[4] end
      if not groups[id] then groups[id] = {}; order[#order + 1] = id end
      table.insert(groups[id], g[1])
    end
  end
  local best = nil
  for _, id in ipairs(order) do
    local members = groups[id]
    if #members >= need and (not best or #members < #best) then best = members end
  end
  if not best then return nil end
  local at = {}
  for i = 1, need do at[i] = best[i] end
  return at
end

-- Where a task fits on the agent's GPUs: the GPU indices and the share of each it
-- holds (1 for whole GPUs), or nil when it does not fit. An older agent (rows nil)
-- takes only untyped whole-GPU tasks and chooses the GPUs itself (no indices).
local function place_gpus(rows, count, gpus, gpu_mem, pat, link)
  local need = tonumber(gpus)
  if need == 0 then return {}, 1 end
  gpu_mem, pat = tonumber(gpu_mem) or 0, pat or ''
  if not rows then
    if need >= 1 and need <= count and gpu_mem == 0 and pat == '' and link ~= 'nvlink' then
      return {}, 1
    end
    return nil
  end
  local usable = qualifying(rows, gpu_mem, pat)
  if need < 1 then return place_share(usable, need), need end
  return place_whole(usable, need, link), 1
end

-- The task's placement as Task.placement reads it: one rank on worker w.
local function placement_json(w, at, share)
  return '[' .. rank_placement(w, 0, table.concat(at, ','), share) .. ']'
end
