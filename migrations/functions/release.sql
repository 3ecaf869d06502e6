-- The release: a conversation's watermark moves over decided messages in
-- seq order (jobs/j_release.c), and what it released goes out to the
-- channels in the same transaction (the outbox: deliveries and their jobs).

-- release_conversations: advance the watermark of each of @p_convs over
-- every contiguous decided message (approved, rejected, held), in seq
-- order, so that recipients never see seq n+1 before seq n however
-- moderation finished. A held message does not stop the conversation: it
-- is decided (hidden) until an admin acts. Approved messages in the range
-- become sent, and go out to the channels in the same transaction
-- (enqueue_deliveries_many). One row per conversation that exists: where
-- its watermark was and is now, and (on every row) the deliveries the call
-- queued. Idempotent: a second run changes nothing.
CREATE OR REPLACE FUNCTION release_conversations(p_convs uuid[])
RETURNS TABLE (conversation_id uuid, from_seq bigint, released_seq bigint, queued int)
LANGUAGE plpgsql AS $$
DECLARE
	v_convs uuid[];
	v_froms bigint[];
	v_tos bigint[];
	v_queued int := 0;
BEGIN
	-- the watermarks, locked in id order as every release locks them
	PERFORM 1 FROM release_watermarks w WHERE w.conversation_id = ANY (p_convs)
	  ORDER BY w.conversation_id FOR UPDATE;
	-- then, in a snapshot taken after the locks (a release that committed
	-- meanwhile is seen whole), where each stops: before the first
	-- undecided message after it, else at the last seq (read without the
	-- conversation's lock: sends to one conversation commit in seq order,
	-- so what is committed is a prefix; 0013)
	SELECT array_agg(w.conversation_id ORDER BY w.conversation_id),
	       array_agg(w.released_seq ORDER BY w.conversation_id),
	       array_agg(coalesce((SELECT min(m.seq) - 1 FROM messages m
	                            WHERE m.conversation_id = w.conversation_id
	                              AND m.seq > w.released_seq AND m.status = 'pending'),
	                          (SELECT c.last_seq FROM conversations c
	                            WHERE c.id = w.conversation_id)) ORDER BY w.conversation_id)
	  INTO v_convs, v_froms, v_tos
	  FROM release_watermarks w WHERE w.conversation_id = ANY (p_convs);
	IF v_convs IS NULL THEN
		RETURN;
	END IF;
	UPDATE messages m SET status = 'sent', sent_at = clock_timestamp()
	  FROM unnest(v_convs, v_froms, v_tos) r(conv, from_seq, to_seq)
	 WHERE m.conversation_id = r.conv AND m.seq > r.from_seq AND m.seq <= r.to_seq
	   AND m.status = 'approved';
	IF FOUND THEN
		v_queued := enqueue_deliveries_many(v_convs, v_froms, v_tos);
	END IF;
	UPDATE release_watermarks w SET released_seq = r.to_seq
	  FROM unnest(v_convs, v_tos) r(conv, to_seq)
	 WHERE w.conversation_id = r.conv AND r.to_seq > w.released_seq;
	RETURN QUERY
	SELECT r.conv, r.from_seq, greatest(r.to_seq, r.from_seq), v_queued
	  FROM unnest(v_convs, v_froms, v_tos) r(conv, from_seq, to_seq);
END $$;

-- enqueue_deliveries_many: the outbox of releases. For each message of
-- @p_convs[i] released in (@p_froms[i], @p_tos[i]], a delivery and a
-- `deliver` job per address of every other member, limited to the
-- message's channels. In the release's transaction, so a release never
-- loses its deliveries; ON CONFLICT makes a second run a no-op. The job
-- key is the address (its md5 when long): one recipient's messages go out
-- one at a time, in order (jobs are made in seq order).
CREATE OR REPLACE FUNCTION enqueue_deliveries_many(p_convs uuid[], p_froms bigint[], p_tos bigint[])
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	-- most conversations have nobody outside the app: nothing to read
	IF NOT EXISTS (SELECT 1 FROM members mb JOIN identities i ON i.user_id = mb.user_id
	                WHERE mb.conversation_id = ANY (p_convs)) THEN
		RETURN 0;
	END IF;
	WITH d AS (
		INSERT INTO deliveries (message_id, conversation_id, sender_id, recipient_id, channel, address)
		SELECT m.id, m.conversation_id, m.sender_id, i.user_id, i.channel, i.address
		  FROM unnest(p_convs, p_froms, p_tos) r(conv, from_seq, to_seq)
		  JOIN messages m ON m.conversation_id = r.conv AND m.seq > r.from_seq AND m.seq <= r.to_seq
		  JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id <> m.sender_id
		  JOIN identities i ON i.user_id = mb.user_id
		 WHERE m.status = 'sent' AND (m.channels IS NULL OR i.channel = ANY (m.channels))
		 ORDER BY m.conversation_id, m.seq
		ON CONFLICT DO NOTHING
		RETURNING id, channel, address)
	INSERT INTO jobs (kind, key, payload)
	SELECT 'deliver', d.channel || ':' || CASE WHEN length(d.address) > 40 THEN md5(d.address)
	                                           ELSE d.address END,
	       jsonb_build_object('delivery_id', d.id)
	  FROM d ORDER BY d.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

-- enqueue_deliveries: the same for one conversation (an admin's verdict).
CREATE OR REPLACE FUNCTION enqueue_deliveries(p_conv uuid, p_from bigint, p_to bigint) RETURNS int
LANGUAGE sql AS $$
	SELECT enqueue_deliveries_many(ARRAY[p_conv], ARRAY[p_from], ARRAY[p_to])
$$;

-- release_watermark_made: every conversation has its watermark from its
-- first moment (the trigger below).
CREATE OR REPLACE FUNCTION release_watermark_made() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO release_watermarks (conversation_id) VALUES (NEW.id);
	RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER conversations_release_watermark AFTER INSERT ON conversations
FOR EACH ROW EXECUTE FUNCTION release_watermark_made();
