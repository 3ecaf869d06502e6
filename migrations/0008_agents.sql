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

-- channel_receive(): migrations/functions/channels.sql
