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

-- The conversation a contact's messages arrive in (its inbox): the private
-- one with the channel's owner, or a group of its agents.
ALTER TABLE identities ADD COLUMN inbox_id uuid REFERENCES conversations ON DELETE SET NULL;

-- channel_receive as in 0005, with a file, and for a team: @p_owners is
-- one username (a private conversation with the contact, as before) or
-- several, comma-separated (a group of them and the contact, titled with
-- the contact's name and channel, the first named its admin); names that
-- are no person here are left out. Later messages go to the contact's
-- inbox while the contact is still a member of it. @p_file is
-- {id, filename, mime, size, sha256} of bytes the inbound job already
-- fetched from the provider into the file store (or NULL). The file
-- becomes the contact's, ready (its SHA-256 was taken while it was
-- written), and the message carries it.
DROP FUNCTION IF EXISTS channel_receive(text, text, text, text, text, text, uuid, text);
-- channel_receive(): migrations/functions/channels.sql
