-- bus = kafka: a delivery whose record cannot go out the moment it arrives
-- (something of its address is ahead of it, its channel's places are full,
-- it waits for a retry or its pacing) waits in the table as a
-- `deliver_wait` job: the per-address queue, claimed in order per address
-- like `deliver` jobs (jobs/deliverer.c). DELIVER_CLAIM's head-of-address
-- test looks at a key's jobs of both kinds: one index serves both.
CREATE INDEX jobs_deliver_keys ON jobs (key) WHERE kind IN ('deliver', 'deliver_wait');
DROP INDEX jobs_deliver_key;
