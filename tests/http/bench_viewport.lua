-- Random square viewports over image BENCH_IMAGE (BENCH_SIZE px wide), BENCH_SIDE px a side.
local auth = os.getenv("BENCH_AUTH")
local image = os.getenv("BENCH_IMAGE")
local side = tonumber(os.getenv("BENCH_SIDE"))
local size = tonumber(os.getenv("BENCH_SIZE"))
wrk.headers["Authorization"] = auth
math.randomseed(os.time())
request = function()
    local x = math.random(0, size - side)
    local y = math.random(0, size - side)
    local path = string.format(
        "/api/v1/annotations/annotations/?image=%s&vector_x_min=%d&vector_x_max=%d&vector_y_min=%d&vector_y_max=%d&limit=5000",
        image, x, x + side, y, y + side)
    return wrk.format("GET", path)
end
