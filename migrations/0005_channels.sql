-- Channels (DESIGN §2 step 5): WhatsApp, Telegram, Messenger and Instagram
-- out and in.

-- A contact is a user that exists only on a channel: a row like any user
-- (so it can be a member, a sender, a recipient), that never signs in.
ALTER TABLE users ADD COLUMN kind text NOT NULL DEFAULT 'person'
	CHECK (kind IN ('person', 'contact'));

-- Where someone can be reached outside the app: a contact's one address,
-- or the addresses a person linked (/v1/me/identities) — a bot's can be a
-- `webhook`: an integrator's URL that gets each message as a signed POST.
CREATE TABLE identities (
	channel    text NOT NULL
	           CHECK (channel IN ('whatsapp', 'telegram', 'messenger', 'instagram', 'webhook')),
	address    text NOT NULL CHECK (length(address) BETWEEN 1 AND 512),	-- a webhook's URL
	user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, address)
);
CREATE INDEX identities_user ON identities (user_id);

-- A message's `channels`: where it may go (NULL: everywhere its
-- recipients can be reached).
ALTER TABLE messages ADD COLUMN channels text[];

-- One row per (message, external address): what the provider said.
CREATE TABLE deliveries (
	id                  bigserial PRIMARY KEY,
	message_id          uuid NOT NULL,
	conversation_id     uuid NOT NULL,
	sender_id           uuid NOT NULL,
	recipient_id        uuid NOT NULL,
	channel             text NOT NULL,
	address             text NOT NULL,
	status              text NOT NULL DEFAULT 'queued'
	                    CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
	attempts            int NOT NULL DEFAULT 0,
	last_error          text,
	provider_message_id text,
	created_at          timestamptz NOT NULL DEFAULT now(),
	updated_at          timestamptz NOT NULL DEFAULT now(),
	UNIQUE (message_id, channel, address)
);
CREATE INDEX deliveries_provider ON deliveries (channel, provider_message_id);
-- deliver jobs are claimed one per address, oldest delivery first (sql.h
-- DELIVER_CLAIM): this finds the others of an address
CREATE INDEX jobs_deliver_key ON jobs (key) WHERE kind = 'deliver';

-- send_message with the message's channels (NULL: everywhere): 0004's
-- send, then the channels on the message it made — in the same call and
-- transaction, so no release can see the message without them. The 0004
-- signature stays for sends that name no channels (the common case, which
-- pays nothing for this).
CREATE FUNCTION send_message(p_id uuid, p_conv uuid, p_sender uuid, p_client text,
                             p_text text, p_file uuid, p_req text, p_channels text[],
                             OUT outcome text, OUT body text)
LANGUAGE plpgsql AS $$
BEGIN
	SELECT s.outcome, s.body INTO outcome, body
	  FROM send_message(p_id, p_conv, p_sender, p_client, p_text, p_file, p_req) s;
	IF outcome = 'created' AND p_channels IS NOT NULL THEN
		UPDATE messages SET channels = p_channels WHERE id = p_id;
	END IF;
END $$;

-- enqueue_deliveries: the outbox of a release. For each message of @conv
-- released in (@from, @to], a delivery and a `deliver` job per address
-- of every other member, limited to the message's channels. In the
-- release's transaction, so a release never loses its deliveries; ON
-- CONFLICT makes a second run a no-op. The job key is the address (its
-- md5 when long): one recipient's messages go out one at a time, in order.
CREATE FUNCTION enqueue_deliveries(p_conv uuid, p_from bigint, p_to bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
	n int;
BEGIN
	WITH d AS (
		INSERT INTO deliveries (message_id, conversation_id, sender_id, recipient_id, channel, address)
		SELECT m.id, m.conversation_id, m.sender_id, i.user_id, i.channel, i.address
		  FROM messages m
		  JOIN members mb ON mb.conversation_id = m.conversation_id AND mb.user_id <> m.sender_id
		  JOIN identities i ON i.user_id = mb.user_id
		 WHERE m.conversation_id = p_conv AND m.seq > p_from AND m.seq <= p_to
		   AND m.status = 'sent' AND (m.channels IS NULL OR i.channel = ANY (m.channels))
		 ORDER BY m.seq
		ON CONFLICT DO NOTHING
		RETURNING id, channel, address)
	INSERT INTO jobs (kind, key, payload)
	SELECT 'deliver', d.channel || ':' || CASE WHEN length(d.address) > 40 THEN md5(d.address)
	                                           ELSE d.address END,
	       jsonb_build_object('delivery_id', d.id)
	  FROM d ORDER BY d.id;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM pg_notify('chat4all_jobs', 'deliver');
	END IF;
	RETURN n;
END $$;

-- release_conversation as in 0003, and what it released goes out to the
-- channels in the same transaction.
CREATE OR REPLACE FUNCTION release_conversation(p_conv uuid, OUT released_seq bigint,
                                                OUT released int, OUT from_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
	v_from bigint;
	v_to bigint;
BEGIN
	SELECT c.released_seq INTO v_from FROM conversations c WHERE c.id = p_conv FOR UPDATE;
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

-- channel_receive: one inbound message from @address on @channel. The
-- contact (a user of kind contact, with that identity) is made on first
-- contact, and so is its private conversation with @owner (a username);
-- the message then goes through send_message like any other, with the
-- provider's id as its client_id, so a provider's retry is the same
-- message (outcome 'existing'). Returns send_message's outcome, the
-- conversation, and whether the conversation is new.
CREATE FUNCTION channel_receive(p_channel text, p_address text, p_name text, p_provider_id text,
                                p_text text, p_owner text, p_msg_id uuid, p_req text,
                                OUT outcome text, OUT conversation_id uuid, OUT created boolean)
LANGUAGE plpgsql AS $$
DECLARE
	v_contact uuid;
	v_owner uuid;
	v_pair text;
	v_body text;
BEGIN
	SELECT id INTO v_owner FROM users WHERE username = p_owner AND kind = 'person';
	IF NOT FOUND THEN
		outcome := 'noowner';
		RETURN;
	END IF;
	SELECT user_id INTO v_contact FROM identities WHERE channel = p_channel AND address = p_address;
	IF NOT FOUND THEN
		INSERT INTO users (username, display_name, password_hash, kind)
		VALUES (left(p_channel || '.' || regexp_replace(lower(p_address), '[^a-z0-9_.-]', '', 'g'), 32)
		        || '.' || substr(md5(p_channel || p_address), 1, 6),
		        coalesce(nullif(p_name, ''), p_address), '!', 'contact')
		RETURNING id INTO v_contact;
		INSERT INTO identities (channel, address, user_id) VALUES (p_channel, p_address, v_contact);
	END IF;
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
	SELECT s.outcome, s.body INTO outcome, v_body
	  FROM send_message(p_msg_id, conversation_id, v_contact, p_channel || ':' || p_provider_id,
	                    p_text, NULL, p_req) s;
END $$;
