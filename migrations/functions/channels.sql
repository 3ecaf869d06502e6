-- The channels: an inbound message from a provider's webhook
-- (jobs/j_inbound.c), and proving that an address is one's own
-- (fcgi/h_channels.c).

-- channel_receive: one inbound message from @address on @channel. The
-- contact (a user of kind contact, with that identity) is made on first
-- contact, and so is its inbox: @p_owners is one username (a private
-- conversation with the contact) or several, comma-separated (a group of
-- them and the contact, titled with the contact's name and channel, the
-- first named its admin); names that are no agent here are left out
-- (outcome 'noowner' when none is). Later messages go to the contact's
-- inbox while the contact is still a member of it. @p_file is
-- {id, filename, mime, size, sha256} of bytes the inbound job already
-- fetched from the provider into the file store (or NULL); the file
-- becomes the contact's, ready (its SHA-256 was taken while it was
-- written), and the message carries it. The message then goes through
-- send_message like any other, with the provider's id as its client_id,
-- so a provider's retry is the same message (outcome 'existing'). Returns
-- send_message's outcome, the conversation, and whether it is new.
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

-- identity_claim: @user asks to link @address on @channel. The claim (a
-- new code, its hash @code_hash, valid @ttl seconds, attempts from zero)
-- and the delivery of @text to that address, in one transaction.
-- outcome: 'sent', or 'linked' when the address is the caller's already.
CREATE OR REPLACE FUNCTION identity_claim(p_channel text, p_address text, p_user uuid, p_code_hash text,
                               p_ttl int, p_text text, OUT outcome text)
LANGUAGE plpgsql AS $$
DECLARE
	v_delivery bigint;
BEGIN
	IF EXISTS (SELECT 1 FROM identities
	            WHERE channel = p_channel AND address = p_address AND user_id = p_user) THEN
		outcome := 'linked';
		RETURN;
	END IF;
	INSERT INTO identity_claims (channel, address, user_id, code_hash, expires_at)
	VALUES (p_channel, p_address, p_user, p_code_hash, now() + make_interval(secs => p_ttl))
	ON CONFLICT (channel, address, user_id) DO UPDATE
	   SET code_hash = EXCLUDED.code_hash, attempts = 0, expires_at = EXCLUDED.expires_at,
	       created_at = now();
	INSERT INTO deliveries (sender_id, recipient_id, channel, address, body)
	VALUES (p_user, p_user, p_channel, p_address, p_text)
	RETURNING id INTO v_delivery;
	-- the key keeps the address's deliveries in order (as enqueue_deliveries)
	INSERT INTO jobs (kind, key, payload)
	VALUES ('deliver', p_channel || ':' || CASE WHEN length(p_address) > 40 THEN md5(p_address)
	                                            ELSE p_address END,
	        jsonb_build_object('delivery_id', v_delivery));
	PERFORM pg_notify('chat4all_jobs', 'deliver');
	outcome := 'sent';
END $$;

-- identity_prove: @user brings back a code for @address. outcome:
-- 'linked' (the address is the caller's now: whoever held it before, a
-- contact or another person, no longer does — the proof is who can read
-- that address today), 'wrong' (one attempt spent), 'exhausted' (five
-- wrong: ask for a new code), 'expired', or 'none'.
CREATE OR REPLACE FUNCTION identity_prove(p_channel text, p_address text, p_user uuid, p_code_hash text,
                               OUT outcome text, OUT identity text)
LANGUAGE plpgsql AS $$
DECLARE
	c identity_claims;
BEGIN
	SELECT * INTO c FROM identity_claims
	 WHERE channel = p_channel AND address = p_address AND user_id = p_user FOR UPDATE;
	IF NOT FOUND THEN
		outcome := 'none';
	ELSIF c.expires_at < now() THEN
		outcome := 'expired';
	ELSIF c.attempts >= 5 THEN
		outcome := 'exhausted';
	ELSIF c.code_hash <> p_code_hash THEN
		UPDATE identity_claims SET attempts = attempts + 1
		 WHERE channel = p_channel AND address = p_address AND user_id = p_user;
		outcome := CASE WHEN c.attempts + 1 >= 5 THEN 'exhausted' ELSE 'wrong' END;
	ELSE
		DELETE FROM identity_claims WHERE channel = p_channel AND address = p_address;
		INSERT INTO identities (channel, address, user_id) VALUES (p_channel, p_address, p_user)
		ON CONFLICT (channel, address) DO UPDATE
		   SET user_id = EXCLUDED.user_id, created_at = now(), inbox_id = NULL;
		SELECT json_build_object('channel', i.channel, 'address', i.address, 'status', 'verified',
		                         'created_at', rfc3339(i.created_at))::text
		  INTO identity FROM identities i WHERE i.channel = p_channel AND i.address = p_address;
		outcome := 'linked';
	END IF;
END $$;
