-- Shared by the wrk scripts: rotating pre-formatted requests, a per-thread count of wrong
-- replies, and one machine-readable result line that bench.py parses.
local common = {}

-- setup() runs in wrk's main Lua state, once per thread, so this list lives there; done()
-- reads each thread's counters back through thread:get().
local threads = {}

function common.setup(thread)
    thread:set("id", #threads)
    threads[#threads + 1] = thread
end

-- Reads one request body per line (bench.py writes them) and formats every request once, so
-- that request() costs a table lookup; each thread starts at its own offset so that the two
-- threads do not send the same body at the same moment.
function common.load_requests(path, headers)
    local requests = {}
    for line in io.lines(path) do
        if line ~= "" then
            local h = {}
            for k, v in pairs(headers) do h[k] = v end
            requests[#requests + 1] = wrk.format("POST", wrk.path, h, line)
        end
    end
    assert(#requests > 0, "no request bodies in " .. path)
    return requests
end

-- Installs the global request/response functions wrk calls in each thread. check(body) says
-- whether a 200 reply's body is right; replies identical to the last right one are accepted by
-- comparing interned strings (no scan), so a 37 KB reply costs the client little.
function common.run(requests, check)
    local n = #requests
    local i = ((id or 0) * 4999) % n
    local last_good = nil
    wrong = 0
    sample = ""

    function request()
        i = i + 1
        if i > n then i = 1 end
        return requests[i]
    end

    function response(status, headers, body)
        if status == 200 and (body == last_good or check(body)) then
            last_good = body
            return
        end
        wrong = wrong + 1
        if sample == "" then
            sample = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 400)
        end
    end
end

function common.count(body, needle)
    local count, from = 0, 1
    while true do
        local s, e = string.find(body, needle, from, true)
        if not s then return count end
        count = count + 1
        from = e + 1
    end
end

local function json_string(s)
    return '"' .. string.gsub(s, '[%c"\\]', function(c)
        return string.format("\\u%04x", string.byte(c))
    end) .. '"'
end

function common.done(summary, latency, requests)
    local wrong, sample = 0, ""
    for _, t in ipairs(threads) do
        wrong = wrong + (t:get("wrong") or 0)
        local s = t:get("sample")
        if sample == "" and s then sample = s end
    end
    local e = summary.errors
    local seconds = summary.duration / 1e6
    io.write(string.format(
        'BENCH_RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%.1f,"p90_us":%.1f,' ..
        '"p99_us":%.1f,"max_us":%.1f,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,' ..
        '"timeout":%d,"status":%d,"wrong":%d,"bytes":%d,"sample":%s}\n',
        summary.requests, seconds, (summary.requests - wrong) / seconds,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        latency.mean, e.connect, e.read, e.write, e.timeout, e.status, wrong, summary.bytes,
        json_string(sample)))
end

return common
