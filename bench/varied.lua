-- wrk script for the "-varied" scenarios: every request carries its own counter in the query,
-- so no connection sends the same request twice in a row (frontdesk's parser recognises a
-- request sent again on its connection and skips parsing it; this measures the parse).
local counter = 0
local sep = "?"
if string.find(wrk.path, "?", 1, true) then
  sep = "&"
end

request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. sep .. "n=" .. counter)
end
