-- servreg's ping, rotating over the endpoints in the bodies file; a reply is right when the
-- call succeeded. Arguments: the bodies file.
local common = require("common")

setup = common.setup
done = common.done

function init(args)
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body)
        return string.find(body, '"result":true', 1, true) ~= nil
    end)
end
