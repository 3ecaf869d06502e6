-- How the API shows rows: the JSON of users, messages and files, and who
-- may see a message or a file. SQL functions, inlined by the planner.

-- rfc3339: a timestamp as the API shows it, UTC with microseconds.
CREATE OR REPLACE FUNCTION rfc3339(t timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

-- user_json: a user as the API shows it.
CREATE OR REPLACE FUNCTION user_json(u users) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', u.id, 'username', u.username,
	                         'display_name', u.display_name, 'role', u.role,
	                         'created_at', rfc3339(u.created_at))
$$;

-- message_status: the status a viewer sees. A sender sees an approved
-- message as pending until it is released, then sent → delivered → read as
-- the other members' horizons (min_delivered / min_read) pass it.
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

-- message_json: a message as @viewer sees it, its file included
-- ({id, filename, mime, size, sha256}); client_id is the sender's alone.
CREATE OR REPLACE FUNCTION message_json(m messages, viewer uuid, min_delivered bigint,
                                        min_read bigint) RETURNS json
LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id,
	                         'seq', m.seq, 'sender_id', m.sender_id,
	                         'client_id', CASE WHEN m.sender_id = viewer THEN m.client_id END,
	                         'text', m.text,
	                         'file', m.file,
	                         'status', message_status(m, viewer, min_delivered, min_read),
	                         'created_at', rfc3339(m.created_at))
$$;

-- message_visible: others' messages are visible once released and not
-- rejected or held; one's own in every status.
CREATE OR REPLACE FUNCTION message_visible(m messages, viewer uuid, released_seq bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT m.sender_id = viewer
	    OR (m.seq <= released_seq AND m.status NOT IN ('pending', 'held', 'rejected'))
$$;

-- file_json: a file as the API shows it.
CREATE OR REPLACE FUNCTION file_json(f files) RETURNS json LANGUAGE sql STABLE AS $$
	SELECT json_build_object('id', f.id, 'filename', f.filename, 'mime', f.mime,
	                         'size', f.size, 'sha256', f.sha256)
$$;

-- file_visible: may @viewer fetch file @f? Its owner, or a member of a
-- conversation where a message carrying it is visible to them.
CREATE OR REPLACE FUNCTION file_visible(p_file uuid, p_viewer uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
	SELECT EXISTS (SELECT 1 FROM files WHERE id = p_file AND owner_id = p_viewer)
	    OR EXISTS (SELECT 1 FROM messages m
	                 JOIN members mb ON mb.conversation_id = m.conversation_id
	                                AND mb.user_id = p_viewer
	                 JOIN release_watermarks w ON w.conversation_id = m.conversation_id
	                WHERE m.file_id = p_file
	                  AND message_visible(m, p_viewer, w.released_seq))
$$;
