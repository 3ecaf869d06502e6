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

-- file_json(): migrations/functions/json.sql

-- message_json(): migrations/functions/json.sql

-- send_message(): migrations/functions/send.sql

-- file_visible(): migrations/functions/json.sql

-- file_delete(): migrations/functions/files.sql
