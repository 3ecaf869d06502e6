-- Files: deleting one (fcgi/h_files.c).

-- file_delete: the owner's, and never one that was sent (others may
-- fetch it). The row lock comes first, so the check after it sees a send
-- that committed meanwhile (a send share-locks the file). Frees the quota.
-- outcome: deleted | sent | notfound
CREATE OR REPLACE FUNCTION file_delete(p_id uuid, p_owner uuid) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f files;
BEGIN
	SELECT * INTO f FROM files WHERE id = p_id AND owner_id = p_owner FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'notfound';
	END IF;
	IF EXISTS (SELECT 1 FROM messages WHERE file_id = p_id) THEN
		RETURN 'sent';
	END IF;
	DELETE FROM files WHERE id = p_id;
	UPDATE users SET storage_used = storage_used - f.size WHERE id = p_owner;
	RETURN 'deleted';
END $$;
