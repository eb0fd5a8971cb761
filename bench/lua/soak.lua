-- One minute of bench/soak.py's mixed load, for wrk: instances ping on a schedule, clients
-- locate at ten times that rate, and each minute a different 2% of the instances die (half of
-- them unregister, the rest just stop pinging). Settings come from the environment (soak.py
-- sets them); the result is one "SOAK {json}" line that soak.py parses.

local instances = tonumber(os.getenv("SOAK_INSTANCES") or "10000")
local minute = tonumber(os.getenv("SOAK_MINUTE") or "0")
local rate = tonumber(os.getenv("SOAK_RATE") or "22000")  -- requests per second, all threads
local locates_per_ping = tonumber(os.getenv("SOAK_LOCATES_PER_PING") or "10")
local thread_count = tonumber(os.getenv("SOAK_THREADS") or "1")
local services = 500  -- 20 instances per service name with the default 10,000

-- setup() runs in wrk's main Lua state; done() reads each thread's counters through these.
local threads = {}
function setup(thread)
    thread:set("id", #threads)
    threads[#threads + 1] = thread
end

local function name_of(i) return string.format("soak.svc%d.api", i % services) end
local function host_of(i) return string.format("10.%d.%d.1", math.floor(i / 256) % 256, i % 256) end
local function port_of(i) return 8000 + i % 1000 end

-- Dead during minute m: 2% of the instances, a different 2% each minute.
local function dead(i, m) return m > 0 and (i * 7919 + m * 104729) % 50 == 0 end

local headers = {["Content-Type"] = "application/json"}
local counter = 0
local next_instance = 0
local to_unregister = {}

function init(args)
    local me = id or 0
    math.randomseed(minute * 1000 + me)
    next_instance = me
    -- The instances of this thread's share that die this minute; half shut down cleanly.
    for i = me, instances - 1, thread_count do
        if dead(i, minute) and not dead(i, minute - 1) and i % 2 == 0 then
            to_unregister[#to_unregister + 1] = i
        end
    end
    pings, locates, unregisters, rpc_errors, http_errors = 0, 0, 0, 0, 0
    sample = ""
end

-- Pacing: each request gets the next free slot of this thread's schedule, whichever of its
-- connections asks, so that the rate holds when latency varies (a fixed delay would not).
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clock_id, soak_timespec* tp);
]]
local now_ts = ffi.new("soak_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, now_ts)  -- CLOCK_MONOTONIC
    return tonumber(now_ts.tv_sec) * 1000 + tonumber(now_ts.tv_nsec) / 1e6
end
local step_ms = 1000 * thread_count / rate
local next_slot = nil

function delay()
    local now = now_ms()
    if next_slot == nil or next_slot < now then next_slot = now end
    local wait = next_slot - now
    next_slot = next_slot + step_ms
    return wait
end

local function post(body)
    return wrk.format("POST", "/api", headers, body)
end

function request()
    counter = counter + 1
    if #to_unregister > 0 then
        local i = table.remove(to_unregister)
        unregisters = unregisters + 1
        return post(string.format(
            '{"jsonrpc":"2.0","method":"unregister","params":["%s",%d],"id":%d}',
            host_of(i), port_of(i), counter))
    end
    if counter % (locates_per_ping + 1) == 0 then
        repeat
            next_instance = next_instance + thread_count
            if next_instance >= instances then next_instance = (id or 0) end
        until not dead(next_instance, minute)
        pings = pings + 1
        local i = next_instance
        return post(string.format(
            '{"jsonrpc":"2.0","method":"ping","params":{"name":"%s","host":"%s","port":%d},"id":%d}',
            name_of(i), host_of(i), port_of(i), counter))
    end
    locates = locates + 1
    local r = math.random()
    local pattern
    if r < 0.8 then
        pattern = name_of(math.random(0, services - 1))            -- one service, 20 instances
    elseif r < 0.999 then
        pattern = string.format("soak.svc%d?.api", math.random(1, 49))  -- ten services
    else
        pattern = "soak.*"                                          -- everything
    end
    return post(string.format(
        '{"jsonrpc":"2.0","method":"locate_service","params":["%s"],"id":%d}', pattern, counter))
end

function response(status, headers, body)
    if status ~= 200 then
        http_errors = http_errors + 1
    elseif string.find(body, '"error":{', 1, true) then
        rpc_errors = rpc_errors + 1
    else
        return
    end
    if sample == "" then sample = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 300) end
end

function done(summary, latency, requests)
    local t = {pings = 0, locates = 0, unregisters = 0, rpc_errors = 0, http_errors = 0}
    local first_sample = ""
    for _, thread in ipairs(threads) do
        for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
        local s = thread:get("sample") or ""
        if first_sample == "" then first_sample = s end
    end
    local e = summary.errors
    io.write(string.format(
        'SOAK {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
        '"write_errors":%d,"timeouts":%d,"http_errors":%d,"rpc_errors":%d,"pings":%d,' ..
        '"locates":%d,"unregisters":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
        summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
        t.http_errors, t.rpc_errors, t.pings, t.locates, t.unregisters,
        latency:percentile(50), latency:percentile(99), latency.max))
    if first_sample ~= "" then
        io.write("SOAK-SAMPLE " .. string.gsub(first_sample, "[%c]", " ") .. "\n")
    end
end
