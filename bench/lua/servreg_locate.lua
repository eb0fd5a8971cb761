-- servreg's locate_service; a reply is right when it lists exactly the expected number of
-- instances. Arguments: the bodies file, the expected number of instances.
local common = require("common")

setup = common.setup
done = common.done

function init(args)
    local expected = tonumber(args[2])
    local requests = common.load_requests(args[1], {["Content-Type"] = "application/json"})
    common.run(requests, function(body)
        return string.find(body, '"error":null', 1, true) ~= nil and
            common.count(body, '"port":') == expected
    end)
end
