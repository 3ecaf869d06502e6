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

-- send_message(): migrations/functions/send.sql

-- enqueue_deliveries(): migrations/functions/release.sql

-- (release_conversation(): replaced by release_conversations() and dropped in 0014)

-- channel_receive(): migrations/functions/channels.sql
