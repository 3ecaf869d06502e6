-- wrk script: POST a message as a random (user, conversation) pair of the
-- data file, each with a fresh client_id, so every request is a new send.
local data
local counter = 0
-- thread:set() sets globals in each thread's own Lua state: thread_id
-- must be a global, or every thread sees 0 (and sends the same client_ids)
thread_id = 0
local threads = 0

function setup(thread)
	threads = threads + 1
	thread:set("thread_id", threads)
end

local tag = os.getenv("BENCH_TAG") or "b"

function init(args)
	data = dofile(os.getenv("BENCH_DATA"))
	math.randomseed(os.time() * 100 + thread_id)
end

function request()
	counter = counter + 1
	local p = data[math.random(#data)]
	local body = string.format('{"client_id":"%s%d-%d-%d","text":"benchmark message number %d"}',
		tag, thread_id, os.time(), counter, counter)
	return wrk.format("POST", "/v1/conversations/" .. p.conv .. "/messages",
		{ ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. p.token }, body)
end
