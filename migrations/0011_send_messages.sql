-- send_messages: many sends in one transaction (the API's group commit,
-- fcgi/send_batch.c). Each element of @p_sends is one send_message() call:
-- {"n": the caller's index, "id", "conv", "sender", "client", "text",
--  "file", "req", "channels": null or a text[] literal}; one row per element, in the
-- order given. The caller sorts by conversation, so that two batches lock
-- conversations in the same order. Any error rolls the whole batch back,
-- and the caller sends each one alone.
CREATE FUNCTION send_messages(p_sends jsonb) RETURNS TABLE (n int, outcome text, body text)
LANGUAGE plpgsql AS $$
DECLARE
	e jsonb;
BEGIN
	FOR e IN SELECT value FROM jsonb_array_elements(p_sends) LOOP
		n := (e->>'n')::int;
		IF e->>'channels' IS NOT NULL THEN
			SELECT s.outcome, s.body INTO outcome, body
			  FROM send_message((e->>'id')::uuid, (e->>'conv')::uuid, (e->>'sender')::uuid,
			                    e->>'client', e->>'text', (e->>'file')::uuid, e->>'req',
			                    (e->>'channels')::text[]) s;
		ELSE
			SELECT s.outcome, s.body INTO outcome, body
			  FROM send_message((e->>'id')::uuid, (e->>'conv')::uuid, (e->>'sender')::uuid,
			                    e->>'client', e->>'text', (e->>'file')::uuid, e->>'req') s;
		END IF;
		RETURN NEXT;
	END LOOP;
END $$;
