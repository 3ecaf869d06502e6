-- Files (DESIGN §5): resumable tus uploads, verified off the request path,
-- sent in messages, fetched by the people who may see them.

-- One row per upload. upload_offset is what is durably on disk (fsynced
-- before the row moves): bytes past it in the file are discarded by the
-- next PATCH. status: uploading → verifying (every byte is here, the
-- whole-file SHA-256 is being computed by a job) → ready | corrupt.
CREATE TABLE files (
	id             uuid PRIMARY KEY,
	owner_id       uuid NOT NULL REFERENCES users (id),
	filename       text NOT NULL,
	mime           text NOT NULL,
	size           bigint NOT NULL CHECK (size >= 0),
	upload_offset  bigint NOT NULL DEFAULT 0 CHECK (upload_offset BETWEEN 0 AND size),
	sha256_claimed text CHECK (sha256_claimed ~ '^[0-9a-f]{64}$'),
	sha256         text,
	status         text NOT NULL DEFAULT 'uploading'
	               CHECK (status IN ('uploading', 'verifying', 'ready', 'corrupt')),
	created_at     timestamptz NOT NULL DEFAULT now(),
	expires_at     timestamptz,		-- an unfinished upload's deadline
	completed_at   timestamptz
);
CREATE INDEX files_owner ON files (owner_id, created_at);
CREATE INDEX files_expiring ON files (expires_at) WHERE status = 'uploading';

-- The quota: bytes a user's files take (declared lengths, from creation),
-- moved in the same statement that checks the limit.
ALTER TABLE users ADD COLUMN storage_used bigint NOT NULL DEFAULT 0;

-- Who may fetch a file besides its owner: members of a conversation it
-- was sent to (messages.file_id exists since 0001).
CREATE INDEX messages_file ON messages (file_id) WHERE file_id IS NOT NULL;

-- What a message shows of its file, copied at send: a file is sendable
-- only once ready, and then nothing of it changes. A copy, not a join:
-- message_json must stay free of sub-SELECTs, or PostgreSQL stops inlining
-- it and every history page and send pays a function call per row
-- (measured: history pages 1082 → 581/s).
ALTER TABLE messages ADD COLUMN file jsonb;

CREATE FUNCTION file_json(f files) RETURNS json LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', f.id, 'filename', f.filename, 'mime', f.mime,
	                         'size', f.size, 'sha256', f.sha256)
$$;

-- Messages now carry their file: {id, filename, mime, size, sha256}.
CREATE OR REPLACE FUNCTION message_json(m messages, viewer uuid, min_delivered bigint,
                                        min_read bigint) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id,
	                         'seq', m.seq, 'sender_id', m.sender_id,
	                         'client_id', CASE WHEN m.sender_id = viewer THEN m.client_id END,
	                         'text', m.text,
	                         'file', m.file,
	                         'status', message_status(m, viewer, min_delivered, min_read),
	                         'created_at', rfc3339(m.created_at))
$$;

-- send_message as in 0001, and a file must be the sender's own and ready
-- (outcome 'badfile'); the answer is message_json, file included. The
-- file's row is share-locked until commit, so it cannot be deleted under
-- a send.
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
		-- wakes the workers at commit (identical payloads fold into one)
		PERFORM pg_notify('chat4all_jobs', 'moderate');
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

-- May @viewer fetch file @f? Its owner, or a member of a conversation
-- where a message carrying it is visible to them.
CREATE FUNCTION file_visible(p_file uuid, p_viewer uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM files WHERE id = p_file AND owner_id = p_viewer)
	    OR EXISTS (SELECT 1 FROM messages m
	                 JOIN members mb ON mb.conversation_id = m.conversation_id
	                                AND mb.user_id = p_viewer
	                 JOIN conversations c ON c.id = m.conversation_id
	                WHERE m.file_id = p_file
	                  AND message_visible(m, p_viewer, c.released_seq))
$$;

-- file_delete: the owner's, and never one that was sent (others may
-- fetch it). The row lock comes first, so the check after it sees a send
-- that committed meanwhile (a send share-locks the file). Frees the quota.
-- outcome: deleted | sent | notfound
CREATE FUNCTION file_delete(p_id uuid, p_owner uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f files;
BEGIN
	SELECT * INTO f FROM files WHERE id = p_id AND owner_id = p_owner FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'notfound';
	END IF;
	IF EXISTS (SELECT 1 FROM messages WHERE file_id = p_id) THEN
		RETURN 'sent';
	END IF;
	DELETE FROM files WHERE id = p_id;
	UPDATE users SET storage_used = storage_used - f.size WHERE id = p_owner;
	RETURN 'deleted';
END $$;
