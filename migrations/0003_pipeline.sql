-- 0003: the pipeline. Moderation decides (approved | rejected | held), the
-- release stage makes approved messages `sent` in seq order, every decision
-- is logged, and jobs that exhaust their retries move to dead_jobs.

ALTER TABLE messages DROP CONSTRAINT messages_status_check;
ALTER TABLE messages ADD CONSTRAINT messages_status_check
	CHECK (status IN ('pending', 'approved', 'held', 'rejected', 'sent', 'failed'));
ALTER TABLE messages ADD COLUMN moderation_category text;
ALTER TABLE messages ADD COLUMN moderation_reason text;
ALTER TABLE messages ADD COLUMN sent_at timestamptz;	-- when recipients could see it

CREATE TABLE dead_jobs (
	id         bigint PRIMARY KEY,		-- the id it had in jobs
	kind       text NOT NULL,
	key        text NOT NULL,
	payload    jsonb NOT NULL,
	attempts   int NOT NULL,
	last_error text,
	created_at timestamptz NOT NULL,
	died_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE moderation_log (
	id         bigserial PRIMARY KEY,
	message_id uuid NOT NULL,
	provider   text NOT NULL,		-- openai | gemini | lexicon | system | admin
	verdict    text NOT NULL CHECK (verdict IN ('approve', 'reject', 'hold', 'error')),
	category   text,
	score      real,
	latency_ms int,
	raw        text,
	at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX moderation_log_message ON moderation_log (message_id);

-- message_status(): migrations/functions/json.sql

-- (release_conversation(): replaced by release_conversations() and dropped in 0014)
