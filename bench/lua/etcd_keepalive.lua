-- etcd's lease keepalive through its v3 JSON gateway, rotating over the leases in the bodies
-- file (etcd's own heartbeat); a reply is right when it renews the lease to its full TTL.
-- Arguments: the bodies file, the TTL the leases were granted with.
local common = require("common")

setup = common.setup
done = common.done

function init(args)
    local needle = '"TTL":"' .. args[2] .. '"'
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body)
        return string.find(body, needle, 1, true) ~= nil
    end)
end
