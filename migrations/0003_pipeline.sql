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

-- A sender sees an approved message as pending until it is released.
CREATE OR REPLACE FUNCTION message_status(m messages, viewer uuid, min_delivered bigint,
                                          min_read bigint) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE
		WHEN m.status = 'approved' THEN 'pending'
		WHEN m.sender_id <> viewer OR m.status <> 'sent' THEN m.status
		WHEN m.seq <= min_read THEN 'read'
		WHEN m.seq <= min_delivered THEN 'delivered'
		ELSE 'sent' END
$$;

-- release_conversation: move the watermark over every contiguous decided
-- message (approved, rejected, held) in seq order; approved ones become
-- sent. Returns the new watermark, the old one (from_seq) and how many
-- were released. Idempotent:
-- running it twice changes nothing the second time. A held message does
-- not stop the conversation: it is decided (hidden) until an admin acts.
CREATE FUNCTION release_conversation(p_conv uuid, OUT released_seq bigint, OUT released int,
                                     OUT from_seq bigint)
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
	END IF;
	released_seq := greatest(v_to, v_from);
END $$;
