-- What the message path's profile asked for (issue 13; make bench PROFILE=1).

-- A claim walks one kind's jobs in id order and stops after its batch:
-- before, each claim read the whole table (a sorted scan), so under a
-- backlog of moderations every claim of another kind read them all
-- (13 ms each at 60k queued, measured).
CREATE INDEX jobs_claim ON jobs (kind, id);

-- A message's row is updated twice after its insert (decided, released)
-- and its conversation's row on every send and every release. With room
-- left on each page the new version stays on the page (a HOT update: no
-- new entries in the table's indexes, and the old one is pruned in place).
-- New pages only; existing ones keep what they have until rewritten.
ALTER TABLE conversations SET (fillfactor = 50);
ALTER TABLE messages SET (fillfactor = 80);

-- release_conversation as in 0005, locking the conversation's row FOR NO
-- KEY UPDATE rather than FOR UPDATE: what it changes is no key, so inserts
-- that only reference the conversation (their foreign-key checks take KEY
-- SHARE) no longer wait for a release to commit.
CREATE OR REPLACE FUNCTION release_conversation(p_conv uuid, OUT released_seq bigint,
                                                OUT released int, OUT from_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_from bigint;
	v_to bigint;
BEGIN
	SELECT c.released_seq INTO v_from FROM conversations c WHERE c.id = p_conv FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		released_seq := NULL;
		released := 0;
		RETURN;
	END IF;
	from_seq := v_from;
	-- the first undecided seq after the watermark stops it
	SELECT coalesce(min(m.seq) - 1, (SELECT c.last_seq FROM conversations c WHERE c.id = p_conv))
	  INTO v_to FROM messages m
	 WHERE m.conversation_id = p_conv AND m.seq > v_from AND m.status = 'pending';
	UPDATE messages m SET status = 'sent', sent_at = clock_timestamp()
	 WHERE m.conversation_id = p_conv AND m.seq > v_from AND m.seq <= v_to
	   AND m.status = 'approved';
	GET DIAGNOSTICS released = ROW_COUNT;
	IF v_to > v_from THEN
		UPDATE conversations c SET released_seq = v_to WHERE c.id = p_conv;
		IF released > 0 THEN
			PERFORM enqueue_deliveries(p_conv, v_from, v_to);
		END IF;
	END IF;
	released_seq := greatest(v_to, v_from);
END $$;
