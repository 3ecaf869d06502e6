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

-- identity_claim(): migrations/functions/channels.sql

-- identity_prove(): migrations/functions/channels.sql
