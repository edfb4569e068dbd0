-- Mixed load for tests/http/robustness.sh: each request is a tile GET (3 in 4, from the URLs in
-- ROBUST_TILES, one per line) or an annotation POST on ROBUST_IMAGE. Counts acknowledged (201)
-- writes and every status class, so the script can demand zero 5xx and find each write again.
local auth = os.getenv("ROBUST_AUTH")
local image = os.getenv("ROBUST_IMAGE")
local kind = os.getenv("ROBUST_TYPE")
local width = tonumber(os.getenv("ROBUST_WIDTH"))
local height = tonumber(os.getenv("ROBUST_HEIGHT"))
local tiles = {}
for line in io.lines(os.getenv("ROBUST_TILES")) do
    table.insert(tiles, line)
end
local threads = {}
function setup(thread)
    table.insert(threads, thread)
end
function init(args)
    acked, s2, s3, s4, s5, s503 = 0, 0, 0, 0, 0, 0
    math.randomseed(os.time() + math.random(1, 100000))
end
request = function()
    if math.random(1, 4) > 1 then
        return wrk.format("GET", tiles[math.random(1, #tiles)], {["Authorization"] = auth})
    end
    local x = math.random(0, width - 50)
    local y = math.random(0, height - 50)
    local body = string.format(
        '{"annotation_type":%s,"image":%s,"vector":{"x1":%d,"y1":%d,"x2":%d,"y2":%d}}',
        kind, image, x, y, x + 40, y + 40)
    return wrk.format("POST", "/api/v1/annotations/annotations/?fields=id",
        {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end
response = function(status, headers, body)
    if status == 201 then acked = acked + 1 end
    if status == 503 then s503 = s503 + 1
    elseif status >= 500 then s5 = s5 + 1
    elseif status >= 400 then s4 = s4 + 1
    elseif status >= 300 then s3 = s3 + 1
    else s2 = s2 + 1 end
end
done = function(summary, latency, requests)
    local t = {acked = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s503 = 0}
    for _, th in ipairs(threads) do
        for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
    end
    io.write(string.format("MIXED acked=%d 2xx=%d 3xx=%d 4xx=%d 5xx=%d 503=%d socket_errors=%d p50_ms=%.1f p99_ms=%.1f\n",
        t.acked, t.s2, t.s3, t.s4, t.s5, t.s503,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
