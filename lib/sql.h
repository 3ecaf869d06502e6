/*
 * sql.h - every SQL statement Chat4All runs, by name. Each is prepared once
 * per connection (and again after a reconnect) and run with parameters only.
 * X(NAME, text): db_exec(db, SQL_NAME, params).
 */
#ifndef CHAT4ALL_SQL_H
#define CHAT4ALL_SQL_H

/* A page of history as @viewer ($2) sees it; each ORDER BY walks the
 * (conversation_id, seq) index, so a page costs the same at any depth. */
#define MSG_LIST_SELECT                                                        \
	"WITH h AS (SELECT coalesce(min(delivered_seq), 0) d,"                 \
	"                  coalesce(min(read_seq), 0) r"                       \
	"             FROM members WHERE conversation_id = $1::uuid"           \
	"              AND user_id <> $2::uuid),"                              \
	" c AS (SELECT released_seq FROM release_watermarks"                  \
	"        WHERE conversation_id = $1::uuid)"                            \
	" SELECT message_json(m, $2::uuid, h.d, h.r)::text, m.seq"             \
	" FROM messages m, h, c"                                               \
	" WHERE m.conversation_id = $1::uuid AND m.seq > $3::bigint"           \
	"   AND m.seq < $4::bigint"                                            \
	"   AND message_visible(m, $2::uuid, c.released_seq)"

#define SQL_STATEMENTS(X)                                                       \
	/* ---- users and sign-in ---- */                                      \
	X(USER_INSERT,                                                         \
	  "INSERT INTO users (username, display_name, password_hash)"          \
	  " VALUES ($1, $2, $3) RETURNING id, user_json(users)::text")          \
	X(USER_LOGIN,                                                          \
	  "SELECT id, password_hash, role FROM users WHERE username = $1")     \
	X(USER_GET,                                                            \
	  "SELECT user_json(u)::text FROM users u WHERE id = $1::uuid")        \
	X(USER_SEARCH, /* $1 query, $2 after-username cursor, $3 limit */      \
	  "SELECT json_build_object('id', id, 'username', username,"           \
	  "                         'display_name', display_name)::text, username" \
	  " FROM users WHERE ($1 = '' OR starts_with(username, lower($1))"    \
	  "   OR strpos(lower(display_name), lower($1)) > 0)"                  \
	  "  AND kind = 'person'" /* a business's customers are no directory */ \
	  "  AND username > $2 ORDER BY username LIMIT $3::int")               \
	/* Of the users $1 (uuid[]), those caller $2 may not put in a        \
	 * conversation: contacts (customers on a channel) whose inbox the    \
	 * caller is not in. */                                               \
	X(USERS_UNREACHABLE,                                                   \
	  "SELECT x.id FROM users x WHERE x.id = ANY($1::uuid[]) AND x.kind = 'contact'" \
	  "   AND NOT EXISTS (SELECT 1 FROM identities i JOIN members m"       \
	  "                     ON m.conversation_id = i.inbox_id AND m.user_id = $2::uuid" \
	  "                    WHERE i.user_id = x.id)")                       \
	X(USER_SET_ROLE,                                                       \
	  "UPDATE users SET role = $2 WHERE username = $1 RETURNING id")       \
	X(USER_SET_AGENT, /* $1 username, $2 bool: a person only */            \
	  "UPDATE users SET agent = $2::boolean WHERE username = $1 AND kind = 'person'" \
	  " RETURNING id")                                                     \
	X(REFRESH_INSERT, /* $1 hash, $2 family, $3 user, $4 ttl seconds */    \
	  "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)" \
	  " VALUES ($1, $2::uuid, $3::uuid,"                                   \
	  "         now() + make_interval(secs => $4::int))")                  \
	X(REFRESH_SPEND, /* the one live token of a family becomes used */     \
	  "UPDATE refresh_tokens t SET used_at = now() FROM users u"           \
	  " WHERE t.token_hash = $1 AND t.used_at IS NULL"                     \
	  "   AND t.revoked_at IS NULL AND t.expires_at > now()"               \
	  "   AND u.id = t.user_id"                                            \
	  " RETURNING t.family_id, t.user_id, u.role")                         \
	X(REFRESH_FIND,                                                        \
	  "SELECT family_id, user_id, used_at IS NOT NULL"                     \
	  " FROM refresh_tokens WHERE token_hash = $1")                        \
	X(REFRESH_REVOKE_FAMILY,                                               \
	  "UPDATE refresh_tokens SET revoked_at = now()"                       \
	  " WHERE family_id = $1::uuid AND revoked_at IS NULL")                \
	X(SIGNIN_ENDED, /* $1 sid: was the sign-in ended? */                   \
	  "SELECT EXISTS (SELECT 1 FROM refresh_tokens"                        \
	  "               WHERE family_id = $1::uuid AND revoked_at IS NOT NULL)") \
	X(SIGNINS_ENDED_SINCE, /* $1 seconds: sign-ins ended since, and how   \
				  long their marks must still live */        \
	  "SELECT family_id, greatest(1, ceil($1::int -"                       \
	  "         extract(epoch FROM now() - max(revoked_at))))::bigint"     \
	  " FROM refresh_tokens"                                               \
	  " WHERE revoked_at > now() - make_interval(secs => $1::int)"         \
	  " GROUP BY family_id")                                               \
	X(AUDIT_INSERT, /* $1 actor, $2 action, $3 subject, $4 ip, $5 detail */ \
	  "INSERT INTO audit_log (actor_id, action, subject, ip, detail)"      \
	  " VALUES ($1::uuid, $2, $3, $4, $5::jsonb)")                         \
	/* ---- conversations ---- */                                          \
	X(CONV_CREATE_PRIVATE, /* $1 me, $2 other, $3 pair key */              \
	  "WITH c AS (INSERT INTO conversations (type, private_pair, created_by)" \
	  "           VALUES ('private', $3, $1::uuid)"                        \
	  "           ON CONFLICT (private_pair) DO NOTHING RETURNING id),"   \
	  " m AS (INSERT INTO members (conversation_id, user_id)"              \
	  "       SELECT c.id, u FROM c, unnest(ARRAY[$1::uuid, $2::uuid]) u)" \
	  " SELECT id FROM c")                                                 \
	X(CONV_BY_PAIR,                                                        \
	  "SELECT id FROM conversations WHERE private_pair = $1")              \
	X(CONV_CREATE_GROUP, /* $1 me, $2 title, $3 uuid[] of the others */    \
	  "WITH c AS (INSERT INTO conversations (type, title, created_by)"     \
	  "           VALUES ('group', $2, $1::uuid) RETURNING id),"           \
	  " m AS (INSERT INTO members (conversation_id, user_id, role)"        \
	  "       SELECT c.id, u, CASE WHEN u = $1::uuid THEN 'admin' ELSE 'member' END" \
	  "       FROM c, (SELECT DISTINCT unnest($3::uuid[] || $1::uuid) u) x)" \
	  " SELECT id FROM c")                                                 \
	X(CONV_ACCESS, /* $1 conversation, $2 user: type, my role or NULL */   \
	  "SELECT c.type, m.role FROM conversations c"                         \
	  " LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2::uuid" \
	  " WHERE c.id = $1::uuid")                                            \
	X(CONV_LOCK, /* the same, holding the conversation row */              \
	  "SELECT c.type, m.role, (SELECT count(*) FROM members x"             \
	  "                        WHERE x.conversation_id = c.id)"            \
	  " FROM conversations c"                                              \
	  " LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = $2::uuid" \
	  " WHERE c.id = $1::uuid FOR UPDATE OF c")                            \
	X(CONV_GET,                                                            \
	  "SELECT json_build_object('id', c.id, 'type', c.type, 'title', c.title," \
	  "  'created_at', rfc3339(c.created_at), 'last_seq', c.last_seq,"     \
	  "  'members', (SELECT json_agg(json_build_object('user_id', u.id,"   \
	  "      'username', u.username, 'display_name', u.display_name,"      \
	  "      'role', m.role, 'delivered_seq', m.delivered_seq,"            \
	  "      'read_seq', m.read_seq) ORDER BY m.joined_at, u.username)"    \
	  "    FROM members m JOIN users u ON u.id = m.user_id"                \
	  "    WHERE m.conversation_id = c.id))::text"                         \
	  " FROM conversations c WHERE c.id = $1::uuid")                       \
	X(CONV_LIST, /* $1 me, $2 cursor activity (µs), $3 cursor id, $4 limit */ \
	  "SELECT json_build_object('id', c.id, 'type', c.type, 'title', c.title," \
	  "  'members_count', (SELECT count(*) FROM members x WHERE x.conversation_id = c.id)," \
	  "  'last_seq', c.last_seq, 'read_seq', me.read_seq,"                 \
	  "  'unread_count', (SELECT count(*) FROM messages x"                 \
	  "      WHERE x.conversation_id = c.id AND x.seq > me.read_seq"       \
	  "        AND x.seq <= w.released_seq AND x.sender_id <> $1::uuid"    \
	  "        AND x.status NOT IN ('held', 'rejected')),"                 \
	  "  'peer', (SELECT json_build_object('user_id', u.id, 'username', u.username," \
	  "      'display_name', u.display_name) FROM members p JOIN users u ON u.id = p.user_id" \
	  "      WHERE c.type = 'private' AND p.conversation_id = c.id"        \
	  "        AND p.user_id <> $1::uuid),"                                \
	  "  'last_message', (SELECT message_json(x, $1::uuid, 0, 0) FROM messages x" \
	  "      WHERE x.conversation_id = c.id"                               \
	  "        AND message_visible(x, $1::uuid, w.released_seq)"           \
	  "      ORDER BY x.seq DESC LIMIT 1),"                                \
	  "  'last_activity', rfc3339(c.last_activity))::text,"                \
	  " (extract(epoch FROM c.last_activity) * 1000000)::bigint, c.id"     \
	  " FROM members me JOIN conversations c ON c.id = me.conversation_id" \
	  " JOIN release_watermarks w ON w.conversation_id = c.id"             \
	  " WHERE me.user_id = $1::uuid"                                       \
	  "   AND ($3 = '' OR (c.last_activity, c.id) <"                       \
	  "        (to_timestamp($2::bigint / 1000000.0), $3::uuid))"          \
	  " ORDER BY c.last_activity DESC, c.id DESC LIMIT $4::int")          \
	X(MEMBER_ADD,                                                          \
	  "INSERT INTO members (conversation_id, user_id) VALUES ($1::uuid, $2::uuid)" \
	  " RETURNING json_build_object('conversation_id', conversation_id,"   \
	  "   'user_id', user_id, 'role', role, 'delivered_seq', delivered_seq," \
	  "   'read_seq', read_seq)::text")                                    \
	X(MEMBER_REMOVE,                                                       \
	  "DELETE FROM members WHERE conversation_id = $1::uuid AND user_id = $2::uuid" \
	  " RETURNING role")                                                   \
	X(MEMBER_PROMOTE_IF_NO_ADMIN, /* a group keeps at least one admin */    \
	  "UPDATE members SET role = 'admin' WHERE conversation_id = $1::uuid" \
	  "   AND user_id = (SELECT user_id FROM members WHERE conversation_id = $1::uuid" \
	  "                  ORDER BY joined_at, user_id LIMIT 1)"             \
	  "   AND NOT EXISTS (SELECT 1 FROM members WHERE conversation_id = $1::uuid" \
	  "                   AND role = 'admin')")                            \
	/* who hears of a conversation's events: people (a contact reads    \
	 * nothing here, and a stream of its own would only fill Redis) */    \
	X(MEMBER_IDS, "SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id" \
	  " WHERE m.conversation_id = $1::uuid AND u.kind = 'person'")        \
	/* ---- messages ---- */                                               \
	X(MSG_SEND, /* $1 new id, $2 conv, $3 sender, $4 client_id, $5 text, $6 file, $7 req, \
		       $8 traceparent */                                       \
	  "SELECT outcome, body FROM send_message($1::uuid, $2::uuid, $3::uuid," \
	  "                                      $4, $5, $6::uuid, $7, $8)")    \
	X(MSG_SEND_CHANNELS, /* the same, $9 the channels text[] it may go to */ \
	  "SELECT outcome, body FROM send_message($1::uuid, $2::uuid, $3::uuid," \
	  "                                      $4, $5, $6::uuid, $7, $9::text[], $8)") \
	X(MSG_SEND_MANY, /* $1 a JSON list of sends: send_messages(), 0011 */   \
	  "SELECT n, outcome, body FROM send_messages($1::jsonb)")            \
	X(MSG_LIST_AFTER, /* $1 conv, $2 me, $3 after, $4 before, $5 limit */  \
	  MSG_LIST_SELECT " ORDER BY m.seq LIMIT $5::int")                     \
	X(MSG_LIST_NEWEST, /* the same, the newest first */                    \
	  MSG_LIST_SELECT " ORDER BY m.seq DESC LIMIT $5::int")                \
	X(MSG_GET, /* $1 message, $2 me: member?, visible?, json */           \
	  "SELECT me.user_id IS NOT NULL,"                                     \
	  "  message_visible(m, $2::uuid, w.released_seq),"                    \
	  "  (message_json(m, $2::uuid, coalesce(h.d, 0), coalesce(h.r, 0))::jsonb" \
	  "   || jsonb_build_object("                                          \
	  "   'delivered_to', (SELECT coalesce(jsonb_agg(x.user_id ORDER BY x.user_id), '[]')" \
	  "       FROM members x WHERE x.conversation_id = m.conversation_id"  \
	  "        AND x.user_id <> m.sender_id AND x.delivered_seq >= m.seq)," \
	  "   'read_by', (SELECT coalesce(jsonb_agg(x.user_id ORDER BY x.user_id), '[]')" \
	  "       FROM members x WHERE x.conversation_id = m.conversation_id"  \
	  "        AND x.user_id <> m.sender_id AND x.read_seq >= m.seq),"     \
	  "   'moderation', CASE WHEN m.sender_id = $2::uuid THEN"             \
	  "       jsonb_build_object('verdict', CASE m.status WHEN 'pending' THEN NULL" \
	  "           WHEN 'rejected' THEN 'reject' WHEN 'held' THEN 'hold'"   \
	  "           ELSE 'approve' END, 'category', m.moderation_category,"  \
	  "           'reason', m.moderation_reason) END))::text"              \
	  " FROM messages m JOIN release_watermarks w ON w.conversation_id = m.conversation_id" \
	  " LEFT JOIN members me ON me.conversation_id = m.conversation_id"    \
	  "       AND me.user_id = $2::uuid"                                   \
	  " LEFT JOIN LATERAL (SELECT min(delivered_seq) d, min(read_seq) r"   \
	  "       FROM members x WHERE x.conversation_id = m.conversation_id"  \
	  "        AND x.user_id <> m.sender_id) h ON true"                    \
	  " WHERE m.id = $1::uuid")                                            \
	X(RECEIPT_ADVANCE, /* $1 conv, $2 me, $3 delivered, $4 read; monotonic; \
			     returns the new horizons, then the old ones */ \
	  "UPDATE members m SET"                                               \
	  "   read_seq = GREATEST(m.read_seq, LEAST($4::bigint, c.last_seq)),"  \
	  "   delivered_seq = GREATEST(m.delivered_seq, LEAST($3::bigint, c.last_seq)," \
	  "                            LEAST($4::bigint, c.last_seq))"          \
	  " FROM conversations c, (SELECT delivered_seq, read_seq FROM members" \
	  "   WHERE conversation_id = $1::uuid AND user_id = $2::uuid FOR UPDATE) old" \
	  " WHERE c.id = m.conversation_id"                                    \
	  "   AND m.conversation_id = $1::uuid AND m.user_id = $2::uuid"       \
	  " RETURNING m.delivered_seq, m.read_seq, old.delivered_seq, old.read_seq") \
	/* The messages of others that a receipt of mine (horizons $3 -> $4    \
	 * delivered, $5 -> $6 read) made delivered or read: every member but  \
	 * the sender is past them now. The two laggards other than me are    \
	 * enough to know the slowest member who is not the sender. Newest    \
	 * first, at most $7: the receipt event covers the rest. */           \
	X(RECEIPT_CROSSED,                                                     \
	  "WITH d AS (SELECT user_id, delivered_seq AS v FROM members"          \
	  "           WHERE conversation_id = $1::uuid AND user_id <> $2::uuid" \
	  "           ORDER BY delivered_seq LIMIT 2),"                         \
	  "     r AS (SELECT user_id, read_seq AS v FROM members"               \
	  "           WHERE conversation_id = $1::uuid AND user_id <> $2::uuid" \
	  "           ORDER BY read_seq LIMIT 2)"                               \
	  "SELECT m.id, m.sender_id, m.seq,"                                   \
	  "       CASE WHEN m.seq > $5::bigint AND m.seq <= LEAST($6::bigint, mr.v)" \
	  "            THEN 'read' ELSE 'delivered' END"                        \
	  " FROM messages m,"                                                  \
	  "  LATERAL (SELECT coalesce(min(v), m.seq) AS v FROM d WHERE user_id <> m.sender_id) md," \
	  "  LATERAL (SELECT coalesce(min(v), m.seq) AS v FROM r WHERE user_id <> m.sender_id) mr" \
	  " WHERE m.conversation_id = $1::uuid AND m.sender_id <> $2::uuid"    \
	  "   AND m.status = 'sent' AND m.seq > $5::bigint AND m.seq <= $4::bigint" \
	  "   AND ((m.seq > $3::bigint AND m.seq <= md.v)"                      \
	  "        OR (m.seq <= $6::bigint AND m.seq <= mr.v))"                 \
	  " ORDER BY m.seq DESC LIMIT $7::int")                                \
	/* ---- the job queue (lib/queue.c) ---- */                            \
	X(JOB_CLAIM, /* $1 kind, $2 how many, $3 lease seconds */              \
	  "UPDATE jobs SET lease_until = now() + make_interval(secs => $3::int)," \
	  "                attempts = attempts + 1"                            \
	  " WHERE id IN (SELECT id FROM jobs WHERE kind = $1"                  \
	  "                AND run_at <= now()"                                \
	  "                AND (lease_until IS NULL OR lease_until < now())"   \
	  "              ORDER BY id LIMIT $2::int FOR UPDATE SKIP LOCKED)"    \
	  " RETURNING id, kind, key, payload::text, attempts")                 \
	/* The same for deliveries: only the head of each address's queue (no  \
	 * earlier delivery of that key is still a job, leased, waiting or    \
	 * retrying), so one recipient gets its messages one at a time and in \
	 * order, whichever deliverer sends them. A retry keeps its delivery id, \
	 * so it stays the head. Channels in $4 (those with all their requests \
	 * in flight, jobs/deliverer.c) are left for later. The head test is a \
	 * scalar subquery on purpose: always an index lookup of its key. As  \
	 * NOT EXISTS, stale statistics (a burst of jobs into a table analyzed \
	 * empty) made it a nested-loop anti-join scanning every deliver job  \
	 * per candidate: 657 ms a claim at 2000 queued, against 23 ms. */    \
	X(DELIVER_CLAIM, /* $1 kinds text[], $2 how many, $3 lease seconds,   \
			    $4 channels to leave text[] */                     \
	  "UPDATE jobs SET lease_until = now() + make_interval(secs => $3::int)," \
	  "                attempts = attempts + 1"                            \
	  " WHERE id IN (SELECT j.id FROM jobs j WHERE j.kind = ANY($1::text[])" \
	  "                AND j.run_at <= now()"                              \
	  "                AND (j.lease_until IS NULL OR j.lease_until < now())" \
	  "                AND split_part(j.key, ':', 1) <> ALL ($4::text[])" \
	  "                AND (j.payload->>'delivery_id')::bigint = (SELECT"  \
	  "                     min((o.payload->>'delivery_id')::bigint) FROM jobs o" \
	  "                     WHERE o.kind IN ('deliver', 'deliver_wait')"   \
	  "                       AND o.key = j.key)"                          \
	  "              ORDER BY j.id LIMIT $2::int FOR UPDATE SKIP LOCKED)"  \
	  " RETURNING id, kind, key, payload::text, attempts")                 \
	/* ---- the outbox relay (bus = kafka, jobs/relay.c) ---- */          \
	X(RELAY_LOCK, /* $1 shard: one active relay per shard */               \
	  "SELECT pg_try_advisory_lock(4342, $1::int)")                        \
	X(RELAY_BATCH, /* $1 kinds text[], $2 how many: the oldest rows, a     \
			  send's with its conversation and seq (headers) */    \
	  "SELECT j.id, j.kind, j.key, j.payload::text, m.conversation_id, m.seq," \
	  "       j.payload->>'req_id', j.payload->>'traceparent'"             \
	  "  FROM jobs j LEFT JOIN messages m ON j.kind = 'moderate'"           \
	  "   AND m.id = CASE WHEN j.payload->>'message_id' ~"                 \
	  "                    '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'" \
	  "              THEN (j.payload->>'message_id')::uuid END"            \
	  " WHERE j.kind = ANY($1::text[]) ORDER BY j.id LIMIT $2::int")       \
	X(RELAY_LAG, /* $1 kinds: the oldest unpublished row's age, seconds */ \
	  "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)"    \
	  "  FROM jobs WHERE kind = ANY($1::text[])")                          \
	/* ---- bus = kafka: the consumers' offsets (lib/queue_kafka.c) ---- */ \
	X(BUS_OFFSETS_LOAD, /* $1 group, $2 topic, $3 partitions int[] */      \
	  "SELECT partition, next_offset FROM bus_offsets"                     \
	  " WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])") \
	X(BUS_OFFSETS_STORE, /* $1 group, $2 topic, $3 int[], $4 bigint[]:     \
				never backwards (a member that lost a partition  \
				cannot undo its new owner's work) */             \
	  "INSERT INTO bus_offsets (group_id, topic, partition, next_offset)"  \
	  " SELECT $1, $2, p, o FROM unnest($3::int[], $4::bigint[]) AS u(p, o)" \
	  " ON CONFLICT (group_id, topic, partition) DO UPDATE"                \
	  "   SET next_offset = GREATEST(bus_offsets.next_offset, EXCLUDED.next_offset)," \
	  "       updated_at = now()")                                         \
	X(BUS_WATERMARKS, /* $1 group, $2 topic, $3 int[], $4 bigint[]: the   \
			     partitions' ends as their consumer sees them */     \
	  "INSERT INTO bus_offsets (group_id, topic, partition, next_offset, high_watermark)" \
	  " SELECT $1, $2, p, 0, h FROM unnest($3::int[], $4::bigint[]) AS u(p, h)" \
	  " ON CONFLICT (group_id, topic, partition) DO UPDATE"                \
	  "   SET high_watermark = EXCLUDED.high_watermark")                   \
	X(BUS_LAG, /* per group and partition: records not done yet */         \
	  "SELECT group_id, topic, partition,"                                 \
	  "       GREATEST(coalesce(high_watermark, next_offset) - next_offset, 0)" \
	  "  FROM bus_offsets ORDER BY 1, 2, 3")                                \
	X(BUS_BURY, /* $1 event id, $2 kind, $3 key, $4 payload, $5 attempts,  \
		       $6 error: a record no stage could take, as a dead job */ \
	  "INSERT INTO dead_jobs (id, kind, key, payload, attempts, last_error, created_at)" \
	  " VALUES ($1::bigint, $2, $3, $4::jsonb, $5::int, $6, now())"         \
	  " ON CONFLICT (id) DO UPDATE SET attempts = EXCLUDED.attempts,"      \
	  "   last_error = EXCLUDED.last_error, died_at = now()")              \
	X(JOB_ACK, "DELETE FROM jobs WHERE id = $1::bigint")                   \
	X(JOB_ACK_MANY, "DELETE FROM jobs WHERE id = ANY($1::bigint[])")       \
	X(JOB_RETRY, /* $1 id, $2 delay ms, $3 error */                        \
	  "UPDATE jobs SET lease_until = NULL, last_error = $3,"               \
	  "       run_at = now() + make_interval(secs => $2::int / 1000.0)"    \
	  " WHERE id = $1::bigint")                                            \
	X(JOB_BURY, /* $1 id, $2 error: to the dead-letter table */            \
	  "WITH d AS (DELETE FROM jobs WHERE id = $1::bigint RETURNING *)"     \
	  " INSERT INTO dead_jobs (id, kind, key, payload, attempts, last_error, created_at)" \
	  " SELECT id, kind, key, payload, attempts, $2, created_at FROM d")   \
	X(JOB_GIVE_BACK, /* $1 id: back to the queue, its claim not counted */  \
	  "UPDATE jobs SET lease_until = NULL, attempts = greatest(attempts - 1, 0)" \
	  " WHERE id = $1::bigint")                                            \
	X(JOB_ENQUEUE, /* $1 kind, $2 key, $3 payload */                       \
	  "INSERT INTO jobs (kind, key, payload) VALUES ($1, $2, $3::jsonb)")  \
	X(JOB_NOTIFY, "SELECT pg_notify('chat4all_jobs', $1)")                 \
	/* ---- moderation and release (jobs/j_*.c) ---- */                    \
	X(MSG_FOR_MODERATION,                                                  \
	  "SELECT conversation_id, coalesce(text, ''), status FROM messages"   \
	  " WHERE id = $1::uuid")                                              \
	X(MSG_DECIDE, /* $1 id, $2 status, $3 category, $4 reason */           \
	  "UPDATE messages SET status = $2, moderation_category = $3,"         \
	  "       moderation_reason = $4"                                      \
	  " WHERE id = $1::uuid AND status = 'pending'"                        \
	  " RETURNING conversation_id")                                        \
	X(MODLOG_INSERT, /* $1 message, $2 provider, $3 verdict, $4 category, $5 score, $6 ms, $7 raw */ \
	  "INSERT INTO moderation_log (message_id, provider, verdict, category," \
	  "                            score, latency_ms, raw)"                \
	  " VALUES ($1::uuid, $2, $3, $4, $5::real, $6::int, $7)")             \
	X(RELEASE_MANY, /* $1 uuid[]: where each watermark was and is now,    \
			   and the deliveries queued (0014) */                 \
	  "SELECT conversation_id, from_seq, released_seq, queued"             \
	  " FROM release_conversations($1::uuid[])")                           \
	X(RELEASED_EVENTS, /* $1 convs uuid[], $2 froms bigint[], $3 tos: what \
			      releases decided, and the people who hear of it */ \
	  "SELECT m.id, m.seq, m.sender_id, m.status,"                         \
	  "       coalesce(m.moderation_reason, ''),"                          \
	  "       message_json(m, NULL::uuid, 0, 0)::text, r.conv, p.people::text," \
	  "       m.traceparent"                                               \
	  " FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) r(conv, from_seq, to_seq)" \
	  " CROSS JOIN LATERAL (SELECT coalesce(array_agg(b.user_id), '{}') people" \
	  "   FROM members b JOIN users u ON u.id = b.user_id"                  \
	  "  WHERE b.conversation_id = r.conv AND u.kind = 'person') p"         \
	  " JOIN messages m ON m.conversation_id = r.conv"                     \
	  "  AND m.seq > r.from_seq AND m.seq <= r.to_seq ORDER BY r.conv, m.seq") \
	X(MSG_FOR_MODERATION_MANY,                                             \
	  "SELECT id, conversation_id, coalesce(text, ''), status FROM messages" \
	  " WHERE id = ANY($1::uuid[])")                                       \
	X(MODERATE_DECIDE, /* $1 decisions, $2 attempts (JSON arrays of records) */ \
	  "WITH d AS (UPDATE messages m SET status = x.status,"                \
	  "             moderation_category = x.category, moderation_reason = x.reason" \
	  "           FROM json_to_recordset($1::json)"                        \
	  "                AS x(id uuid, status text, category text, reason text)" \
	  "           WHERE m.id = x.id AND m.status = 'pending'"              \
	  "           RETURNING m.id, m.conversation_id),"                     \
	  " l AS (INSERT INTO moderation_log (message_id, provider, verdict,"  \
	  "                                   category, score, latency_ms, raw)" \
	  "       SELECT a.message_id, a.provider, a.verdict, a.category, a.score," \
	  "              a.latency_ms, a.raw"                                  \
	  "       FROM json_to_recordset($2::json) AS a(message_id uuid, provider text," \
	  "            verdict text, category text, score real, latency_ms int, raw text)" \
	  "       JOIN d ON d.id = a.message_id)"                              \
	  " SELECT count(*) FROM d")                                           \
	/* ---- administration ---- */                                         \
	X(USER_ROLE, "SELECT role FROM users WHERE id = $1::uuid")             \
	X(ADMIN_MODERATION_LIST, /* $1 status, $2 after (created µs), $3 after id, $4 limit */ \
	  "SELECT json_build_object('id', m.id, 'conversation_id', m.conversation_id," \
	  "  'seq', m.seq, 'sender_id', m.sender_id, 'text', m.text,"           \
	  "  'status', m.status, 'category', m.moderation_category,"           \
	  "  'reason', m.moderation_reason, 'created_at', rfc3339(m.created_at))::text," \
	  " (extract(epoch FROM m.created_at) * 1000000)::bigint, m.id"        \
	  " FROM messages m WHERE m.status = $1"                               \
	  "   AND ($3 = '' OR (m.created_at, m.id) >"                          \
	  "        (to_timestamp($2::bigint / 1000000.0), $3::uuid))"          \
	  " ORDER BY m.created_at, m.id LIMIT $4::int")                        \
	X(ADMIN_MODERATE, /* $1 message, $2 verdict approve|reject, $3 reason; \
			     the watermark locked first, as a release locks it, \
			     so that none moves past the message meanwhile */ \
	  "WITH w AS (SELECT w.released_seq FROM release_watermarks w"         \
	  "             JOIN messages x ON x.conversation_id = w.conversation_id" \
	  "            WHERE x.id = $1::uuid FOR UPDATE OF w)"                 \
	  "UPDATE messages m SET"                                              \
	  "   status = CASE WHEN $2 = 'reject' THEN 'rejected'"                \
	  "                 WHEN m.seq <= w.released_seq THEN 'sent'"          \
	  "                 ELSE 'approved' END,"                              \
	  "   moderation_reason = coalesce($3, m.moderation_reason),"          \
	  "   sent_at = CASE WHEN $2 = 'approve' AND m.seq <= w.released_seq"  \
	  "                  THEN clock_timestamp() END"                       \
	  " FROM w WHERE m.id = $1::uuid"                                      \
	  "   AND m.status IN ('held', 'rejected', 'pending', 'approved')"     \
	  " RETURNING m.conversation_id, m.status, m.sender_id, m.seq,"       \
	  "   coalesce(m.moderation_reason, ''), message_json(m, NULL::uuid, 0, 0)::text") \
	X(DEAD_LIST, /* $1 after id, $2 limit */                               \
	  "SELECT json_build_object('id', id, 'kind', kind, 'key', key,"       \
	  "  'payload', payload, 'attempts', attempts, 'last_error', last_error," \
	  "  'created_at', rfc3339(created_at), 'died_at', rfc3339(died_at))::text, id" \
	  " FROM dead_jobs WHERE id > $1::bigint ORDER BY id LIMIT $2::int")   \
	/* Back to the queue with a fresh count. A dead delivery's row is    \
	 * `failed`, and the deliverer sends only what is `queued`: the retry \
	 * queues the row again (and a message that had failed for it is      \
	 * `sent` again until the delivery says otherwise). */               \
	X(DEAD_RETRY,                                                          \
	  "WITH d AS (DELETE FROM dead_jobs WHERE id = $1::bigint RETURNING *)," \
	  " dl AS (UPDATE deliveries x SET status = 'queued', attempts = 0,"   \
	  "               last_error = NULL, updated_at = now() FROM d"        \
	  "        WHERE d.kind = 'deliver' AND x.status = 'failed'"           \
	  "          AND x.id = (d.payload->>'delivery_id')::bigint"           \
	  "        RETURNING x.message_id),"                                   \
	  " m AS (UPDATE messages SET status = 'sent'"                         \
	  "        WHERE id IN (SELECT message_id FROM dl) AND status = 'failed')" \
	  " INSERT INTO jobs (id, kind, key, payload, created_at)"             \
	  " SELECT id, kind, key, payload, created_at FROM d RETURNING id, kind") \
	/* every kind there is, 0 when none waits (a series that vanishes when \
	 * the queue is empty leaves a dashboard's graph with holes) */        \
	X(QUEUE_STATS,                                                         \
	  "SELECT k.kind, count(j.id),"                                        \
	  "       coalesce(extract(epoch FROM now() - min(j.created_at)), 0)"  \
	  "  FROM (VALUES ('moderate'), ('release'), ('deliver'), ('deliver_wait')," \
	  "               ('inbound'), ('file_verify')) k (kind)"              \
	  "  LEFT JOIN jobs j ON j.kind = k.kind GROUP BY k.kind"              \
	  " UNION ALL SELECT kind, count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)" \
	  "  FROM jobs WHERE kind NOT IN ('moderate', 'release', 'deliver', 'deliver_wait'," \
	  "                               'inbound', 'file_verify') GROUP BY kind" \
	  " UNION ALL SELECT 'dead', count(*), 0 FROM dead_jobs")              \
	/* ---- files (fcgi/h_files.c, jobs/j_file_verify.c, jobs/cron.c) ---- */ \
	X(FILE_CREATE, /* $1 id, $2 owner, $3 name, $4 mime, $5 size, $6 sha256 \
			  claimed, $7 quota, $8 expiry s, $9 most files a user  \
			  holds (an empty one costs a row too); no row: over */ \
	  "WITH q AS (UPDATE users SET storage_used = storage_used + $5::bigint" \
	  "           WHERE id = $2::uuid AND storage_used + $5::bigint <= $7::bigint" \
	  "             AND (SELECT count(*) FROM files WHERE owner_id = $2::uuid) < $9::int" \
	  "           RETURNING id)"                                            \
	  " INSERT INTO files (id, owner_id, filename, mime, size, sha256_claimed, expires_at)" \
	  " SELECT $1::uuid, q.id, $3, $4, $5::bigint, $6,"                     \
	  "        now() + make_interval(secs => $8::int) FROM q"              \
	  " RETURNING extract(epoch FROM expires_at)::bigint")                  \
	X(FILE_UPLOAD_STATE, /* $1 id, $2 owner: the upload as tus sees it */  \
	  "SELECT size, upload_offset, status,"                                \
	  "       coalesce(extract(epoch FROM expires_at)::bigint, 0),"        \
	  "       coalesce(expires_at < now(), false)"                          \
	  " FROM files WHERE id = $1::uuid AND owner_id = $2::uuid")           \
	/* $1 id, $2 offset before, $3 after, $4 expiry s: the bytes up to $3 \
	 * are on disk; the last ones make it `verifying` and queue the hash */ \
	X(FILE_PROGRESS,                                                       \
	  "WITH f AS (UPDATE files SET upload_offset = $3::bigint,"            \
	  "             status = CASE WHEN $3::bigint = size THEN 'verifying' ELSE status END," \
	  "             expires_at = CASE WHEN $3::bigint = size THEN NULL"    \
	  "                          ELSE now() + make_interval(secs => $4::int) END" \
	  "           WHERE id = $1::uuid AND upload_offset = $2::bigint AND status = 'uploading'" \
	  "             AND expires_at >= now()"                                \
	  "           RETURNING id, status, expires_at),"                       \
	  "     j AS (INSERT INTO jobs (kind, key, payload)"                    \
	  "           SELECT 'file_verify', f.id::text, jsonb_build_object('file_id', f.id)" \
	  "           FROM f WHERE f.status = 'verifying' RETURNING 1)"         \
	  " SELECT f.status, coalesce(extract(epoch FROM f.expires_at)::bigint, 0)," \
	  "        (SELECT count(*) FROM j),"                                   \
	  "        CASE WHEN f.status = 'verifying' THEN pg_notify('chat4all_jobs', 'file_verify') END" \
	  " FROM f")                                                           \
	/* lib/slots.c: slot $2 of the places named $1, a session advisory \
	 * lock held until given back or until the connection ends */        \
	X(SLOT_TAKE, "SELECT pg_try_advisory_lock(hashtext($1), $2::int)")    \
	X(SLOT_GIVE, "SELECT pg_advisory_unlock(hashtext($1), $2::int)")      \
	X(FILE_LOST, /* $1 id: its bytes on disk are fewer than recorded */   \
	  "UPDATE files SET expires_at = now() - interval '1 second'"          \
	  " WHERE id = $1::uuid AND status = 'uploading'")                     \
	X(FILE_DELETE, "SELECT file_delete($1::uuid, $2::uuid)")              \
	X(FILE_META, /* $1 id, $2 viewer: owner, or ready and sent where they see it */ \
	  "SELECT json_build_object('id', f.id, 'filename', f.filename, 'mime', f.mime," \
	  "         'size', f.size, 'sha256', f.sha256, 'status', f.status," \
	  "         'created_at', rfc3339(f.created_at))::text, f.filename, f.mime, f.status" \
	  " FROM files f WHERE f.id = $1::uuid"                                \
	  "   AND (f.owner_id = $2::uuid OR (f.status = 'ready' AND file_visible(f.id, $2::uuid)))") \
	X(FILE_READY, /* $1 id: for a signed link */                           \
	  "SELECT NULL, filename, mime, status FROM files WHERE id = $1::uuid AND status = 'ready'") \
	X(FILE_FOR_VERIFY, "SELECT sha256_claimed FROM files"                   \
	  " WHERE id = $1::uuid AND status = 'verifying'")                     \
	X(FILE_VERIFIED, /* $1 id, $2 sha256 (NULL: unreadable): ready or corrupt */ \
	  "UPDATE files SET sha256 = $2::text, completed_at = now(),"          \
	  "  status = CASE WHEN $2::text IS NOT NULL AND coalesce(sha256_claimed = $2::text, true)" \
	  "                THEN 'ready' ELSE 'corrupt' END"                     \
	  " WHERE id = $1::uuid AND status = 'verifying' RETURNING owner_id, status") \
	X(FILES_EXPIRE, /* $1 how many: unfinished uploads past their time */  \
	  "WITH f AS (DELETE FROM files WHERE id IN"                           \
	  "             (SELECT id FROM files WHERE status = 'uploading' AND expires_at < now()" \
	  "              ORDER BY expires_at LIMIT $1::int FOR UPDATE SKIP LOCKED)" \
	  "           RETURNING id, owner_id, size),"                           \
	  "     u AS (UPDATE users SET storage_used = storage_used - s.total"   \
	  "           FROM (SELECT owner_id, sum(size) AS total FROM f GROUP BY owner_id) s" \
	  "           WHERE users.id = s.owner_id RETURNING 1)"                 \
	  " SELECT id FROM f")                                                 \
	/* ---- housekeeping (jobs/cron.c) ---- */                            \
	X(REFRESH_PRUNE, /* refresh tokens a day past their expiry: no access  \
			    token of theirs can live, no reuse can matter */   \
	  "DELETE FROM refresh_tokens WHERE expires_at < now() - interval '1 day'") \
	X(AUDIT_PRUNE, /* $1 seconds kept */                                    \
	  "DELETE FROM audit_log WHERE at < now() - make_interval(secs => $1::int)") \
	X(CONTACTS_AFTER, /* $1 after id, $2 limit: contacts, for their streams */ \
	  "SELECT id FROM users WHERE kind = 'contact' AND id > $1::uuid ORDER BY id LIMIT $2::int") \
	X(FILES_UNKNOWN, /* $1 uuid[]: those without a row */                  \
	  "SELECT u FROM unnest($1::uuid[]) u WHERE NOT EXISTS"                \
	  " (SELECT 1 FROM files WHERE id = u)")                               \
	/* ---- channels (jobs/deliveries.c, jobs/j_inbound.c, fcgi/h_channels.c) ---- */ \
	/* (a delivery of no message carries its own text: a code that proves \
	 * an address, from Chat4All itself) */                               \
	X(DELIVERY_LOAD, /* $1 bigint[] delivery ids */                        \
	  "SELECT d.id, d.channel, d.address, d.status, d.attempts, coalesce(m.text, d.body)," \
	  "       m.file->>'id', m.file->>'filename', m.file->>'mime',"        \
	  "       coalesce((m.file->>'size')::bigint, 0), d.message_id,"      \
	  "       d.conversation_id, d.sender_id, m.seq,"                      \
	  "       coalesce(extract(epoch FROM now() - i.last_inbound_at)::bigint, -1)," \
	  "       CASE WHEN d.message_id IS NULL THEN 'Chat4All' ELSE u.display_name END," \
	  "       m.traceparent"                                               \
	  " FROM deliveries d LEFT JOIN messages m ON m.id = d.message_id"     \
	  " JOIN users u ON u.id = d.sender_id"                                 \
	  " LEFT JOIN identities i ON i.channel = d.channel AND i.address = d.address" \
	  " WHERE d.id = ANY($1::bigint[])")                                   \
	X(DELIVERY_SENT, /* $1 id, $2 provider message id */                   \
	  "UPDATE deliveries SET status = 'sent', provider_message_id = $2,"   \
	  "       attempts = attempts + 1, last_error = NULL, updated_at = now()," \
	  "       sent_at = now()"                                              \
	  " WHERE id = $1::bigint AND status = 'queued'")                      \
	X(DELIVERY_RETRY, /* $1 id, $2 error, $3 delay ms, $4 job key, $5 payload, \
			     $6 the kind that waits (deliveries_wait_kind) */  \
	  "WITH d AS (UPDATE deliveries SET attempts = attempts + 1, last_error = $2," \
	  "                  updated_at = now()"                               \
	  "           WHERE id = $1::bigint AND status = 'queued' RETURNING id)" \
	  " INSERT INTO jobs (kind, key, payload, run_at)"                     \
	  " SELECT $6, $4, $5::jsonb, now() + make_interval(secs => $3::int / 1000.0)" \
	  " FROM d")                                                           \
	X(DELIVERY_DEFER, /* $1 id, $2 delay ms, $3 key, $4 payload, $5 kind:  \
			     our pacing, or its address's turn; no attempt */  \
	  "INSERT INTO jobs (kind, key, payload, run_at)"                      \
	  " SELECT $5, $3, $4::jsonb, now() + make_interval(secs => $2::int / 1000.0)" \
	  " FROM deliveries WHERE id = $1::bigint AND status = 'queued'")      \
	/* bus = kafka (jobs/deliverer.c): the keys of $1 with deliveries      \
	 * waiting in the table, and a leased stand-in for a record in flight  \
	 * that holds its address's later deliveries back in the table */      \
	X(DELIVER_WAITING, /* $1 keys text[] */                                \
	  "SELECT DISTINCT key FROM jobs"                                      \
	  " WHERE kind = 'deliver_wait' AND key = ANY($1::text[])")             \
	X(DELIVER_STAND_IN, /* $1 key, $2 payload, $3 lease seconds */         \
	  "INSERT INTO jobs (kind, key, payload, attempts, lease_until)"       \
	  " VALUES ('deliver_wait', $1, $2::jsonb, 1,"                         \
	  "         now() + make_interval(secs => $3::int)) RETURNING id")     \
	X(DELIVERY_FAILED, /* $1 id, $2 error, $3 job id, $4 key, $5 payload */ \
	  "WITH d AS (UPDATE deliveries SET status = 'failed', attempts = attempts + 1," \
	  "                  last_error = $2, updated_at = now()"              \
	  "           WHERE id = $1::bigint AND status = 'queued' RETURNING attempts)" \
	  " INSERT INTO dead_jobs (id, kind, key, payload, attempts, last_error, created_at)" \
	  " SELECT $3::bigint, 'deliver', $4, $5::jsonb, d.attempts, $2, now() FROM d" \
	  " ON CONFLICT (id) DO NOTHING")                                      \
	/* A message is `failed` (API.md) when nobody got it: every other    \
	 * member lives only on a channel, and every delivery of it failed. */ \
	X(MESSAGE_FAIL_IF_UNDELIVERED, /* $1 message */                        \
	  "UPDATE messages m SET status = 'failed'"                            \
	  " WHERE m.id = $1::uuid AND m.status = 'sent'"                        \
	  "   AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.message_id = m.id" \
	  "                     AND x.status <> 'failed')"                     \
	  "   AND NOT EXISTS (SELECT 1 FROM members mb JOIN users u ON u.id = mb.user_id" \
	  "                    WHERE mb.conversation_id = m.conversation_id"   \
	  "                      AND mb.user_id <> m.sender_id AND u.kind = 'person')" \
	  " RETURNING m.id")                                                   \
	X(DELIVERY_STATUS, /* $1 channel, $2 provider id, $3 sent|delivered|read|failed, \
			      $4 error: forward only; the sender learns of it */ \
	  "UPDATE deliveries d SET status = $3, updated_at = now(),"           \
	  "       last_error = coalesce($4, d.last_error)"                     \
	  " FROM messages m WHERE m.id = d.message_id"                         \
	  "   AND d.channel = $1 AND d.provider_message_id = $2"               \
	  "   AND (array_position(ARRAY['queued','sent','delivered','read'], d.status)" \
	  "        < array_position(ARRAY['queued','sent','delivered','read'], $3)" \
	  "        OR ($3 = 'failed' AND d.status IN ('queued', 'sent')))"     \
	  " RETURNING d.message_id, d.conversation_id, d.sender_id, m.seq, d.address," \
	  "           d.recipient_id")                                          \
	X(DELIVERY_WATERMARK, /* $1 channel, $2 address, $3 delivered|read,   \
				 $4 epoch ms: what the provider accepted before */ \
	  "UPDATE deliveries d SET status = $3, updated_at = now()"            \
	  " FROM messages m WHERE m.id = d.message_id"                         \
	  "   AND d.channel = $1 AND d.address = $2"                           \
	  "   AND d.status IN ('sent', 'delivered') AND d.status <> $3"        \
	  "   AND d.sent_at <= to_timestamp($4::bigint / 1000.0)"              \
	  " RETURNING d.message_id, d.conversation_id, d.sender_id, m.seq, d.address," \
	  "           d.recipient_id")                                          \
	/* A contact's provider says it got or read a message: its horizons in \
	 * the conversation move as if it had sent a receipt, so the message's \
	 * status stays delivered/read after a reload too. (A person's own    \
	 * horizons follow their app, not their linked channels.) */           \
	X(CHANNEL_RECEIPT, /* $1 conv, $2 recipient, $3 seq, $4 delivered|read */ \
	  "UPDATE members mb SET delivered_seq = greatest(mb.delivered_seq, $3::bigint)," \
	  "       read_seq = CASE WHEN $4 = 'read' THEN greatest(mb.read_seq, $3::bigint)" \
	  "                       ELSE mb.read_seq END"                         \
	  "  FROM users u WHERE mb.conversation_id = $1::uuid AND mb.user_id = $2::uuid" \
	  "   AND u.id = mb.user_id AND u.kind = 'contact'")                    \
	X(DELIVERIES_ENQUEUE, /* $1 conv, $2 seq: one message that became sent */ \
	  "SELECT enqueue_deliveries($1::uuid, $2::bigint - 1, $2::bigint)")  \
	/* $1 message, $2 viewer. A person's address (a phone number, an     \
	 * integrator's URL) and what its provider answered are for that       \
	 * person and admins; a contact's address is its name, seen by whoever \
	 * shares its conversation. */                                         \
	X(DELIVERIES_OF,                                                       \
	  "SELECT coalesce(json_agg(json_build_object('channel', d.channel,"   \
	  "         'recipient_id', d.recipient_id,"                           \
	  "         'address', CASE WHEN see THEN d.address END,"              \
	  "         'status', d.status, 'attempts', d.attempts,"               \
	  "         'last_error', CASE WHEN see THEN d.last_error END,"        \
	  "         'provider_message_id', d.provider_message_id,"             \
	  "         'updated_at', rfc3339(d.updated_at)) ORDER BY d.id), '[]')::text" \
	  " FROM deliveries d JOIN users r ON r.id = d.recipient_id,"          \
	  "  LATERAL (SELECT d.recipient_id = $2::uuid OR r.kind = 'contact'"  \
	  "             OR EXISTS (SELECT 1 FROM users v WHERE v.id = $2::uuid AND v.role = 'admin')" \
	  "           AS see) s"                                               \
	  " WHERE d.message_id = $1::uuid")                                    \
	X(CHANNEL_RECEIVE, /* $1 channel, $2 address, $3 name, $4 provider id, \
			      $5 text, $6 owner, $7 new message id, $8 req, \
			      $9 fetched file {id, filename, mime, size, sha256} or NULL */ \
	  "SELECT outcome, conversation_id, created FROM channel_receive($1, $2, $3, $4, $5," \
	  " $6, $7::uuid, $8, $9::jsonb)")                                     \
	X(CHANNEL_KNOWN, /* $1 channel, $2 address, $3 client id: arrived already? */ \
	  "SELECT 1 FROM identities i JOIN messages m"                         \
	  "   ON m.sender_id = i.user_id AND m.client_id = $3"                 \
	  " WHERE i.channel = $1 AND i.address = $2")                          \
	X(IDENTITY_LIST, /* $1 user: proven, then still to prove */            \
	  "SELECT coalesce(json_agg(x.o ORDER BY x.channel, x.address), '[]')::text FROM (" \
	  " SELECT channel, address, json_build_object('channel', channel, 'address', address," \
	  "   'status', 'verified', 'created_at', rfc3339(created_at)) o"       \
	  "  FROM identities WHERE user_id = $1::uuid"                         \
	  " UNION ALL"                                                          \
	  " SELECT channel, address, json_build_object('channel', channel, 'address', address," \
	  "   'status', 'pending', 'code_expires_at', rfc3339(expires_at),"     \
	  "   'created_at', rfc3339(created_at)) FROM identity_claims WHERE user_id = $1::uuid) x") \
	X(IDENTITY_ADD, /* $1 user, $2 channel, $3 address: a webhook, an admin's; \
			   no row when taken */                                \
	  "INSERT INTO identities (channel, address, user_id) VALUES ($2, $3, $1::uuid)" \
	  " ON CONFLICT DO NOTHING RETURNING json_build_object('channel', channel," \
	  "   'address', address, 'status', 'verified', 'created_at', rfc3339(created_at))::text") \
	X(IDENTITY_CLAIM, /* $1 channel, $2 address, $3 user, $4 code hash,    \
			     $5 ttl s, $6 the text that carries the code */    \
	  "SELECT identity_claim($1, $2, $3::uuid, $4, $5::int, $6)")          \
	X(IDENTITY_PROVE, /* $1 channel, $2 address, $3 user, $4 code hash */  \
	  "SELECT outcome, identity FROM identity_prove($1, $2, $3::uuid, $4)") \
	X(IDENTITY_DELETE, /* $1 user, $2 channel, $3 address: proven or not */ \
	  "WITH a AS (DELETE FROM identities WHERE user_id = $1::uuid AND channel = $2" \
	  "             AND address = $3 RETURNING 1),"                        \
	  "     b AS (DELETE FROM identity_claims WHERE user_id = $1::uuid AND channel = $2" \
	  "             AND address = $3 RETURNING 1)"                         \
	  " SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)")       \
	/* ---- operations ---- */                                             \
	X(PING, "SELECT 1")                                                    \
	X(MIGRATION_APPLIED, "SELECT 1 FROM schema_migrations WHERE version = $1") \
	X(MIGRATION_RECORD, "INSERT INTO schema_migrations (version) VALUES ($1)")

enum sql_stmt {
#define SQL_ENUM(name, text) SQL_##name,
	SQL_STATEMENTS(SQL_ENUM)
#undef SQL_ENUM
	SQL_COUNT
};

#endif
