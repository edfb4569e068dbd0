-- One annotation per POST on image BENCH_IMAGE; counts acknowledged (201) writes and errors.
local auth = os.getenv("BENCH_AUTH")
local image = os.getenv("BENCH_IMAGE")
local kind = os.getenv("BENCH_TYPE")
local threads = {}
function setup(thread)
    table.insert(threads, thread)
end
function init(args)
    acked = 0
    failed = 0
    math.randomseed(os.time() + math.random(1, 100000))
end
request = function()
    local x = math.random(0, 99000)
    local y = math.random(0, 99000)
    local body = string.format(
        '{"annotation_type":%s,"image":%s,"vector":{"x1":%d,"y1":%d,"x2":%d,"y2":%d}}',
        kind, image, x, y, x + 40, y + 40)
    return wrk.format("POST", "/api/v1/annotations/annotations/?fields=id",
        {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end
response = function(status, headers, body)
    if status == 201 then
        acked = acked + 1
    else
        failed = failed + 1
    end
end
done = function(summary, latency, requests)
    local a, f = 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("acked")
        f = f + t:get("failed")
    end
    io.write(string.format("ACKED %d FAILED %d SOCKET_ERRORS %d\n", a, f,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
