-- ARGV: labels, id, num, old name, its folded form, new name ('' to only remove), its
-- folded form. Moves the task's name indexes; runs inside the caller's MULTI.
local id, num = ARGV[2], ARGV[3]
unindex_name(id, num, ARGV[4], ARGV[5])
if ARGV[6] ~= '' then index_name(id, num, ARGV[6], ARGV[7]) end
return {'ok'}
