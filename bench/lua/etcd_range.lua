-- etcd's prefix range through its v3 JSON gateway (a "locate"); a reply is right when it
-- counts the expected number of keys. Arguments: the bodies file, the expected count.
local common = require("common")

setup = common.setup
done = common.done

function init(args)
    local needle = '"count":"' .. args[2] .. '"'
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body)
        return string.find(body, needle, 1, true) ~= nil
    end)
end
