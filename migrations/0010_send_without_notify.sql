-- send_message as in 0004, without its NOTIFY. A transaction that
-- notifies takes a database-wide lock from its pre-commit until its commit
-- record is flushed, so notifying sends committed one after another and
-- never shared a WAL flush: pgbench, 16 clients, send_message alone 1.5k a
-- second with the NOTIFY, 3.5k without. The API wakes the workers after
-- the commit instead (lib/queue.h, QUEUE_WAKE_CHANNEL).
CREATE OR REPLACE FUNCTION send_message(p_id uuid, p_conv uuid, p_sender uuid, p_client text,
                                        p_text text, p_file uuid, p_req text,
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
	INSERT INTO messages (id, conversation_id, seq, sender_id, client_id, text, file_id, file)
	VALUES (p_id, p_conv, v_seq, p_sender, p_client, p_text, p_file, v_file)
	ON CONFLICT (sender_id, client_id) DO NOTHING
	RETURNING * INTO m;
	IF FOUND THEN
		INSERT INTO jobs (kind, key, payload)
		VALUES ('moderate', p_conv::text,
		        jsonb_build_object('message_id', m.id, 'req_id', p_req));
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
