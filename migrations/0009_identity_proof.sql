-- Proven addresses. Linking a WhatsApp number (or a Telegram chat, a
-- Messenger or Instagram id) to a person used to take nothing but asking:
-- anyone could take a customer's number, get the customer's messages as
-- their own and send to the customer from the business. Now a link is a
-- claim until a one-time code, sent to that address through its channel,
-- comes back (fcgi/h_channels.c). `identities` holds proven addresses
-- only (a contact's, which its provider vouches for; a person's, proven;
-- a webhook, an admin's); what is still to prove is here.
CREATE TABLE identity_claims (
	channel    text NOT NULL CHECK (channel IN ('whatsapp', 'telegram', 'messenger', 'instagram')),
	address    text NOT NULL CHECK (length(address) BETWEEN 1 AND 64),
	user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  text NOT NULL,		-- hex SHA-256 of channel:address:user:code
	attempts   int NOT NULL DEFAULT 0,	-- wrong codes so far
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, address, user_id)
);
CREATE INDEX identity_claims_user ON identity_claims (user_id);

-- People's links made before proof existed are unproven: they become
-- claims whose code has expired (the person asks for a new one), and
-- receive and send nothing meanwhile.
INSERT INTO identity_claims (channel, address, user_id, code_hash, expires_at)
SELECT i.channel, i.address, i.user_id, '', now()
  FROM identities i JOIN users u ON u.id = i.user_id
 WHERE u.kind = 'person' AND i.channel <> 'webhook'
ON CONFLICT DO NOTHING;
DELETE FROM identities i USING users u
 WHERE u.id = i.user_id AND u.kind = 'person' AND i.channel <> 'webhook';

-- A code goes out like any message, through the deliverer: a delivery
-- that belongs to no message carries its own text.
ALTER TABLE deliveries ALTER COLUMN message_id DROP NOT NULL,
                       ALTER COLUMN conversation_id DROP NOT NULL,
                       ADD COLUMN body text,
                       ADD CHECK ((message_id IS NULL) = (body IS NOT NULL));

-- identity_claim: @user asks to link @address on @channel. The claim (a
-- new code, its hash @code_hash, valid @ttl seconds, attempts from zero)
-- and the delivery of @text to that address, in one transaction.
-- outcome: 'sent', or 'linked' when the address is the caller's already.
CREATE FUNCTION identity_claim(p_channel text, p_address text, p_user uuid, p_code_hash text,
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
CREATE FUNCTION identity_prove(p_channel text, p_address text, p_user uuid, p_code_hash text,
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
