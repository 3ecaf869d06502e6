-- 0002: the JSON shapes of API.md, built where the rows are so that a
-- handler answers with one round trip and no copying field by field.

CREATE FUNCTION user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', u.id, 'username', u.username,
	                         'display_name', u.display_name, 'role', u.role,
	                         'created_at', rfc3339(u.created_at))
$$;

-- The status a viewer sees: a sender sees sent → delivered → read as the
-- other members' horizons (min_delivered/min_read) pass the message.
CREATE FUNCTION message_status(m messages, viewer uuid, min_delivered bigint,
                               min_read bigint) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT CASE
		WHEN m.sender_id <> viewer OR m.status <> 'sent' THEN m.status
		WHEN m.seq <= min_read THEN 'read'
		WHEN m.seq <= min_delivered THEN 'delivered'
		ELSE 'sent' END
$$;

CREATE FUNCTION message_json(m messages, viewer uuid, min_delivered bigint,
                             min_read bigint) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id,
	                         'seq', m.seq, 'sender_id', m.sender_id,
	                         'client_id', CASE WHEN m.sender_id = viewer THEN m.client_id END,
	                         'text', m.text, 'file', NULL,
	                         'status', message_status(m, viewer, min_delivered, min_read),
	                         'created_at', rfc3339(m.created_at))
$$;

-- Others' messages are visible once released and not rejected or held;
-- one's own in every status.
CREATE FUNCTION message_visible(m messages, viewer uuid, released_seq bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT m.sender_id = viewer
	    OR (m.seq <= released_seq AND m.status NOT IN ('pending', 'held', 'rejected'))
$$;
