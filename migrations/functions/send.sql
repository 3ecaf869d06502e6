-- A send: send_message() for one, send_messages() for a batch
-- (fcgi/send_batch.c commits many sends in one transaction).

-- send_message: the whole of a send in one call (and, from the API, one
-- transaction with the rest of its batch: send_messages below).
-- The UPDATE takes the conversation's row lock and the next seq at once, so
-- concurrent senders commit in seq order and seq has no gaps. A repeated
-- (sender_id, client_id) answers the first message; when two copies race,
-- the second inserts nothing and hands its seq back (the lock is still
-- ours, so nobody took a later one). A file must be the sender's own and
-- ready (outcome 'badfile'); its row is share-locked until commit, so it
-- cannot be deleted under a send. The answer is message_json, file
-- included. The moderation job is queued in the same transaction.
-- p_trace: the sending request's span (a traceparent, lib/trace.h), kept
-- with the message and its job for the stages after it; NULL: untraced.
-- No NOTIFY here: a transaction that notifies takes a database-wide lock
-- from its pre-commit until its commit record is flushed, so notifying
-- sends committed one after another and never shared a WAL flush (pgbench,
-- 16 clients, send_message alone: 1.5k a second with the NOTIFY, 3.5k
-- without). The API wakes the workers after the commit instead
-- (lib/kv_keys.h, KV_JOBS_WAKE).
-- outcome: created | existing | notfound | forbidden | conflict | badfile
CREATE OR REPLACE FUNCTION send_message(p_id uuid, p_conv uuid, p_sender uuid, p_client text,
                                        p_text text, p_file uuid, p_req text,
                                        p_trace text DEFAULT NULL,
                                        OUT outcome text, OUT body text)
LANGUAGE plpgsql AS $$
DECLARE
	m messages;
	v_seq bigint;
	v_file jsonb;
BEGIN
	-- a replay answers without taking the conversation's lock
	SELECT * INTO m FROM messages WHERE sender_id = p_sender AND client_id = p_client;
	IF FOUND THEN
		outcome := CASE WHEN m.conversation_id = p_conv THEN 'existing' ELSE 'conflict' END;
		body := message_json(m, p_sender, 0, 0)::text;
		RETURN;
	END IF;
	IF p_file IS NOT NULL THEN
		SELECT file_json(f)::jsonb INTO v_file FROM files f
		 WHERE id = p_file AND owner_id = p_sender AND status = 'ready' FOR SHARE;
		IF NOT FOUND THEN
			outcome := 'badfile';
			RETURN;
		END IF;
	END IF;
	UPDATE conversations SET last_seq = last_seq + 1, last_activity = now()
	 WHERE id = p_conv
	   AND EXISTS (SELECT 1 FROM members
	                WHERE conversation_id = p_conv AND user_id = p_sender)
	RETURNING last_seq INTO v_seq;
	IF NOT FOUND THEN
		-- the rare path: tell a missing conversation from a non-member
		outcome := CASE WHEN EXISTS (SELECT 1 FROM conversations WHERE id = p_conv)
		                THEN 'forbidden' ELSE 'notfound' END;
		RETURN;
	END IF;
	INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, text, file_id, file,
	                      traceparent)
	VALUES (p_id, p_conv, v_seq, p_sender, p_client, p_text, p_file, v_file, p_trace)
	ON CONFLICT (sender_id, client_id) DO NOTHING
	RETURNING * INTO m;
	IF FOUND THEN
		INSERT INTO jobs (kind, key, payload)
		VALUES ('moderate', p_conv::text,
		        jsonb_strip_nulls(jsonb_build_object('message_id', m.id, 'req_id', p_req,
		                                             'traceparent', p_trace)));
		outcome := 'created';
	ELSE
		UPDATE conversations SET last_seq = last_seq - 1 WHERE id = p_conv;
		SELECT * INTO m FROM messages
		 WHERE sender_id = p_sender AND client_id = p_client;
		outcome := CASE WHEN m.conversation_id = p_conv THEN 'existing'
		                ELSE 'conflict' END;
	END IF;
	body := message_json(m, p_sender, 0, 0)::text;
END $$;

-- send_message with the message's channels (NULL: everywhere): the send
-- above, then the channels on the message it made — in the same call and
-- transaction, so no release can see the message without them. The
-- signature without channels stays for sends that name none (the common
-- case, which pays nothing for this).
CREATE OR REPLACE FUNCTION send_message(p_id uuid, p_conv uuid, p_sender uuid, p_client text,
                             p_text text, p_file uuid, p_req text, p_channels text[],
                             p_trace text DEFAULT NULL,
                             OUT outcome text, OUT body text)
LANGUAGE plpgsql AS $$
BEGIN
	SELECT s.outcome, s.body INTO outcome, body
	  FROM send_message(p_id, p_conv, p_sender, p_client, p_text, p_file, p_req, p_trace) s;
	IF outcome = 'created' AND p_channels IS NOT NULL THEN
		UPDATE messages SET channels = p_channels WHERE id = p_id;
	END IF;
END $$;

-- send_messages: many sends in one transaction (the API's group commit,
-- fcgi/send_batch.c). Each element of @p_sends is one send_message() call:
-- {"n": the caller's index, "id", "conv", "sender", "client", "text",
--  "file", "req", "trace", "channels": null or a text[] literal}; one row per element, in the
-- order given. The caller sorts by conversation, so that two batches lock
-- conversations in the same order. Any error rolls the whole batch back,
-- and the caller sends each one alone.
CREATE OR REPLACE FUNCTION send_messages(p_sends jsonb) RETURNS TABLE (n int, outcome text, body text)
LANGUAGE plpgsql AS $$
DECLARE
	e jsonb;
BEGIN
	FOR e IN SELECT value FROM jsonb_array_elements(p_sends) LOOP
		n := (e->>'n')::int;
		IF e->>'channels' IS NOT NULL THEN
			SELECT s.outcome, s.body INTO outcome, body
			  FROM send_message((e->>'id')::uuid, (e->>'conv')::uuid, (e->>'sender')::uuid,
			                    e->>'client', e->>'text', (e->>'file')::uuid, e->>'req',
			                    (e->>'channels')::text[], e->>'trace') s;
		ELSE
			SELECT s.outcome, s.body INTO outcome, body
			  FROM send_message((e->>'id')::uuid, (e->>'conv')::uuid, (e->>'sender')::uuid,
			                    e->>'client', e->>'text', (e->>'file')::uuid, e->>'req',
			                    e->>'trace') s;
		END IF;
		RETURN NEXT;
	END LOOP;
END $$;
