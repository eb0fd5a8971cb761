-- etcd's put through its v3 JSON gateway, rotating over the keys in the bodies file (a
-- heartbeat write); a reply is right when it carries the response header. Arguments: the
-- bodies file.
local common = require("common")

setup = common.setup
done = common.done

function init(args)
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body)
        return string.find(body, '"header"', 1, true) ~= nil
    end)
end
