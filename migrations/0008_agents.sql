-- Agents: the people channel_owner names, who receive every customer's
-- conversation. Only an admin makes one (chat4all-admin agent USERNAME);
-- open sign-up never can, so whoever registers a name channel_owner uses
-- ('support' by default) first gets nothing from it.
ALTER TABLE users ADD COLUMN agent boolean NOT NULL DEFAULT false;

-- People who already hold a contact's inbox keep receiving: they were
-- channel owners before this column existed (an operator who doubts one
-- turns it off with chat4all-admin not-agent).
UPDATE users u SET agent = true
 WHERE u.kind = 'person'
   AND EXISTS (SELECT 1 FROM identities i JOIN members m ON m.conversation_id = i.inbox_id
                WHERE m.user_id = u.id);

-- channel_receive as in 0006, its owners agents only.
CREATE OR REPLACE FUNCTION channel_receive(p_channel text, p_address text, p_name text, p_provider_id text,
                                p_text text, p_owners text, p_msg_id uuid, p_req text,
                                p_file jsonb,
                                OUT outcome text, OUT conversation_id uuid, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_contact uuid;
	v_owners uuid[];
	v_inbox uuid;
	v_pair text;
	v_body text;
	v_file uuid;
BEGIN
	SELECT array_agg(x.id ORDER BY x.ord) INTO v_owners
	  FROM (SELECT DISTINCT ON (u.id) u.id, k.ord
	          FROM unnest(string_to_array(p_owners, ',')) WITH ORDINALITY AS k(name, ord)
	          JOIN users u ON u.username = trim(k.name) AND u.kind = 'person' AND u.agent
	         ORDER BY u.id, k.ord) x;
	IF v_owners IS NULL THEN
		outcome := 'noowner';
		RETURN;
	END IF;
	SELECT i.user_id, i.inbox_id INTO v_contact, v_inbox
	  FROM identities i WHERE i.channel = p_channel AND i.address = p_address;
	IF NOT FOUND THEN
		INSERT INTO users (username, display_name, password_hash, kind)
		VALUES (p_channel || ':' || p_address, coalesce(nullif(p_name, ''), p_address), '!',
		        'contact')
		RETURNING id INTO v_contact;
		INSERT INTO identities (channel, address, user_id) VALUES (p_channel, p_address, v_contact);
	END IF;
	UPDATE identities SET last_inbound_at = now()
	 WHERE channel = p_channel AND address = p_address;
	SELECT mb.conversation_id INTO conversation_id
	  FROM members mb WHERE mb.conversation_id = v_inbox AND mb.user_id = v_contact;
	created := false;
	IF NOT FOUND AND array_length(v_owners, 1) = 1 THEN
		v_pair := CASE WHEN v_contact::text < v_owners[1]::text THEN v_contact || ':' || v_owners[1]
		               ELSE v_owners[1] || ':' || v_contact END;
		SELECT c.id INTO conversation_id FROM conversations c WHERE c.private_pair = v_pair;
		IF NOT FOUND THEN
			INSERT INTO conversations (type, private_pair, created_by)
			VALUES ('private', v_pair, v_owners[1]) RETURNING id INTO conversation_id;
			INSERT INTO members (conversation_id, user_id)
			VALUES (conversation_id, v_owners[1]), (conversation_id, v_contact);
			created := true;
		END IF;
	ELSIF NOT FOUND THEN
		INSERT INTO conversations (type, title, created_by)
		SELECT 'group', left(u.display_name, 80) || ' (' || initcap(p_channel) || ')', v_owners[1]
		  FROM users u WHERE u.id = v_contact
		RETURNING id INTO conversation_id;
		INSERT INTO members (conversation_id, user_id, role)
		SELECT conversation_id, o.id, CASE WHEN o.ord = 1 THEN 'admin' ELSE 'member' END
		  FROM unnest(v_owners) WITH ORDINALITY AS o(id, ord)
		UNION ALL SELECT conversation_id, v_contact, 'member';
		created := true;
	END IF;
	UPDATE identities SET inbox_id = conversation_id
	 WHERE channel = p_channel AND address = p_address AND inbox_id IS DISTINCT FROM conversation_id;
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
