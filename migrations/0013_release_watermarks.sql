-- A conversation's release watermark gets a row of its own. A send updates
-- the conversation's row (its seq counter) and a release updated the same
-- row (released_seq), so each waited for the other's commit: with the
-- pipeline running, the send's seq UPDATE took 0.30 ms instead of 0.07
-- (pg_stat_statements, make bench PROFILE=1) and a release's lock 0.14 ms.
-- Apart, neither waits for the other. A release reads last_seq without
-- locking the conversation: sends to one conversation commit in seq order
-- (each holds the row from its seq until its commit), so what a release
-- sees committed is always a prefix.
CREATE TABLE release_watermarks (
	conversation_id uuid PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
	released_seq    bigint NOT NULL DEFAULT 0	-- recipients see up to here
) WITH (fillfactor = 50);	-- updated on every release: room for HOT updates
INSERT INTO release_watermarks (conversation_id, released_seq)
SELECT id, released_seq FROM conversations;
ALTER TABLE conversations DROP COLUMN released_seq;

-- release_watermark_made(): migrations/functions/release.sql
-- (its trigger, conversations_release_watermark: migrations/functions/release.sql)

-- (release_conversation moves to the watermark's row in 0014, set-based)

-- file_visible(): migrations/functions/json.sql
