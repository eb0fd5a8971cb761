-- nginx answering every ping request with one fixed JSON-RPC reply: the ceiling for any HTTP
-- server on this machine. Arguments: the bodies file.
local common = require("common")

local expected = '{"jsonrpc":"2.0","result":true,"error":null,"id":1}'

setup = common.setup
done = common.done

function init(args)
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body) return body == expected end)
end
