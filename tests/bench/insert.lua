-- wrk script: the same body size as a send, to the bare INSERT responder.
local counter = 0
function request()
	counter = counter + 1
	return wrk.format("POST", "/", { ["Content-Type"] = "application/json" },
		string.format('{"client_id":"b1-%d","text":"benchmark message number %d"}', counter, counter))
end
