-- Releases and their deliveries, set-based: a worker's batch releases all
-- its conversations in a few statements instead of five per conversation
-- (make bench PROFILE=1: the per-conversation calls were the pipeline's
-- largest cost, 0.5 ms a conversation). And no NOTIFY inside a release: a
-- notifying transaction holds a database-wide lock from its pre-commit to
-- its flush (see 0010), so releases that queued deliveries committed one
-- at a time. The functions answer how many deliveries they queued; the
-- caller wakes the deliverer after its commit (lib/queue.h queue_notify).

-- enqueue_deliveries_many(): migrations/functions/release.sql

-- enqueue_deliveries(): migrations/functions/release.sql

-- release_conversations(): migrations/functions/release.sql

-- one home for a release: the single-conversation form goes
DROP FUNCTION IF EXISTS release_conversation(uuid);
