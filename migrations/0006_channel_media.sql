-- Channels, continued: photos and documents come in, read watermarks,
-- contacts that can never collide with a person's name.

-- A contact's username is its identity, `whatsapp:+5511…`: ':' is outside
-- what registration allows ([a-z0-9_.-]), so no person can hold it first,
-- and (channel, address) is unique, so no two contacts can either.
UPDATE users u SET username = i.channel || ':' || i.address
  FROM identities i
 WHERE i.user_id = u.id AND u.kind = 'contact';

-- When the provider accepted a delivery: Messenger's and Instagram's read
-- and delivery watermarks cover every message sent before them.
ALTER TABLE deliveries ADD COLUMN sent_at timestamptz;
UPDATE deliveries SET sent_at = updated_at WHERE status <> 'queued' AND status <> 'failed';
CREATE INDEX deliveries_address ON deliveries (channel, address, sent_at)
	WHERE status IN ('sent', 'delivered');

-- When the person behind an address last wrote to us: WhatsApp takes
-- free-form messages only within 24 hours of that (its customer service
-- window); outside it, only an approved template (jobs/j_deliver.c).
ALTER TABLE identities ADD COLUMN last_inbound_at timestamptz;

-- channel_receive as in 0005, with a file: @p_file is
-- {id, filename, mime, size, sha256} of bytes the inbound job already
-- fetched from the provider into the file store (or NULL). The file
-- becomes the contact's, ready (its SHA-256 was taken while it was
-- written), and the message carries it.
DROP FUNCTION channel_receive(text, text, text, text, text, text, uuid, text);
CREATE FUNCTION channel_receive(p_channel text, p_address text, p_name text, p_provider_id text,
                                p_text text, p_owner text, p_msg_id uuid, p_req text,
                                p_file jsonb,
                                OUT outcome text, OUT conversation_id uuid, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_contact uuid;
	v_owner uuid;
	v_pair text;
	v_body text;
	v_file uuid;
BEGIN
	SELECT id INTO v_owner FROM users WHERE username = p_owner AND kind = 'person';
	IF NOT FOUND THEN
		outcome := 'noowner';
		RETURN;
	END IF;
	SELECT user_id INTO v_contact FROM identities WHERE channel = p_channel AND address = p_address;
	IF NOT FOUND THEN
		INSERT INTO users (username, display_name, password_hash, kind)
		VALUES (p_channel || ':' || p_address, coalesce(nullif(p_name, ''), p_address), '!',
		        'contact')
		RETURNING id INTO v_contact;
		INSERT INTO identities (channel, address, user_id) VALUES (p_channel, p_address, v_contact);
	END IF;
	UPDATE identities SET last_inbound_at = now()
	 WHERE channel = p_channel AND address = p_address;
	v_pair := CASE WHEN v_contact::text < v_owner::text THEN v_contact || ':' || v_owner
	               ELSE v_owner || ':' || v_contact END;
	SELECT id INTO conversation_id FROM conversations WHERE private_pair = v_pair;
	created := NOT FOUND;
	IF created THEN
		INSERT INTO conversations (type, private_pair, created_by)
		VALUES ('private', v_pair, v_owner) RETURNING id INTO conversation_id;
		INSERT INTO members (conversation_id, user_id)
		VALUES (conversation_id, v_owner), (conversation_id, v_contact);
	END IF;
	IF p_file IS NOT NULL AND NOT EXISTS (
	       SELECT 1 FROM messages m
	        WHERE m.sender_id = v_contact AND m.client_id = p_channel || ':' || p_provider_id) THEN
		-- (a provider's retry fetched the bytes again: they stay without a
		-- row, and the cron removes them; the message below is 'existing')
		v_file := (p_file->>'id')::uuid;
		INSERT INTO files (id, owner_id, filename, mime, size, upload_offset, sha256,
		                   status, completed_at)
		VALUES (v_file, v_contact, p_file->>'filename', p_file->>'mime',
		        (p_file->>'size')::bigint, (p_file->>'size')::bigint, p_file->>'sha256',
		        'ready', now());
		UPDATE users SET storage_used = storage_used + (p_file->>'size')::bigint
		 WHERE id = v_contact;
	END IF;
	SELECT s.outcome, s.body INTO outcome, v_body
	  FROM send_message(p_msg_id, conversation_id, v_contact, p_channel || ':' || p_provider_id,
	                    p_text, v_file, p_req) s;
END $$;
