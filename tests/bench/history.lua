-- wrk script: read a history page of a random conversation of the data
-- file: the newest page, or a page from a random point of its history.
local data
-- thread:set() sets globals in each thread's own Lua state: thread_id
-- must be a global, or every thread sees 0 (and sends the same client_ids)
thread_id = 0
local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("thread_id", threads)
end

function init(args)
	data = dofile(os.getenv("BENCH_DATA"))
	math.randomseed(os.time() * 100 + thread_id)
end

function request()
	local p = data[math.random(#data)]
	local path = "/v1/conversations/" .. p.conv .. "/messages?limit=50"
	if math.random(2) == 1 and (p.len or 0) > 100 then
		path = path .. "&after=" .. math.random(p.len - 50)
	end
	return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. p.token })
end
