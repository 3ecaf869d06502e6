/*
 * api_conversations_test - the REST API over real HTTP (lighttpd, the FastCGI
 * responders, PostgreSQL and Redis, as tools/test.sh starts them): the user directory, private and group conversations, their members and lists.
 * Every test makes its own users, so the tests are independent.
 */
#include "client.h"
#include "http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <jwt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------- conversations */

static void test_users_directory(void **state)
{
	struct resp r;
	struct user a, b, c;
	char cursor[64];
	(void)state;

	signup(&a, "dirx");
	signup(&b, "dirx");
	signup(&c, "dirx");
	assert_int_equal(get(&r, a.access, "/v1/users?q=dirx_%s&limit=2", run_tag), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_non_null(jstr(r.json, "next_cursor"));
	assert_null(jget(r.json, "items.0.password_hash"));
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "next_cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, a.access, "/v1/users?q=dirx_%s&limit=2&cursor=%s", run_tag, cursor), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	assert_null(jget(r.json, "next_cursor") ? jstr(r.json, "next_cursor") : NULL);
	resp_free(&r);
	get(&r, a.access, "/v1/users?limit=1000");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, NULL, "/v1/users");
	assert_problem(&r, 401, "unauthorized");
	resp_free(&r);
}

static void test_private_conversation(void **state)
{
	struct resp r;
	struct user a, b, c;
	char id[37], id2[37];
	(void)state;

	signup(&a, "priv");
	signup(&b, "priv");
	signup(&c, "priv");
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", b.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "type"), "private");
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 2);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);

	/* the pair has one conversation, whoever asks */
	json_post(&r, "/v1/conversations", b.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", a.id);
	assert_int_equal(r.status, 200);
	snprintf(id2, sizeof(id2), "%s", jstr(r.json, "id"));
	assert_string_equal(id, id2);
	resp_free(&r);

	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":[\"%s\"]}", a.id);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access,
		  "{\"type\":\"private\",\"members\":[\"00000000-0000-4000-8000-000000000000\"]}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"private\",\"members\":\"%s\"}", b.id);
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	json_post(&r, "/v1/conversations", a.access, "{\"type\":\"channel\",\"members\":[\"%s\"]}", b.id);
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "type");
	resp_free(&r);

	assert_int_equal(get(&r, b.access, "/v1/conversations/%s", id), 200);
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/%s", id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/00000000-0000-4000-8000-000000000000");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);
	get(&r, c.access, "/v1/conversations/not-a-uuid");
	assert_problem(&r, 404, "not-found");
	resp_free(&r);

	assert_int_equal(get(&r, a.access, "/v1/conversations"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	assert_string_equal(jstr(r.json, "items.0.id"), id);
	assert_string_equal(jstr(r.json, "items.0.peer.user_id"), b.id);
	assert_int_equal(jint(r.json, "items.0.members_count"), 2);
	resp_free(&r);
	assert_int_equal(get(&r, c.access, "/v1/conversations"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 0);
	resp_free(&r);
}

static void test_conversation_list_paging(void **state)
{
	struct resp r;
	struct user me, other[3];
	char conv[3][37], cursor[96], seen[3][37];
	(void)state;

	signup(&me, "list");
	for (int i = 0; i < 3; i++) {
		signup(&other[i], "list");
		private_conv(&me, &other[i], conv[i]);
	}
	/* activity moves the first conversation to the top */
	send_text(&r, &me, conv[0], "bump", "latest");
	resp_free(&r);
	assert_int_equal(get(&r, me.access, "/v1/conversations?limit=2"), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 2);
	assert_string_equal(jstr(r.json, "items.0.id"), conv[0]);
	assert_string_equal(jstr(r.json, "items.0.last_message.text"), "latest");
	snprintf(seen[0], 37, "%s", jstr(r.json, "items.0.id"));
	snprintf(seen[1], 37, "%s", jstr(r.json, "items.1.id"));
	snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "next_cursor"));
	resp_free(&r);
	assert_int_equal(get(&r, me.access, "/v1/conversations?limit=2&cursor=%s", cursor), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "items")), 1);
	snprintf(seen[2], 37, "%s", jstr(r.json, "items.0.id"));
	assert_null(jstr(r.json, "next_cursor"));
	resp_free(&r);
	/* three different conversations over the two pages */
	assert_string_not_equal(seen[0], seen[1]);
	assert_string_not_equal(seen[1], seen[2]);
	assert_string_not_equal(seen[0], seen[2]);
	get(&r, me.access, "/v1/conversations?cursor=12_not-a-uuid");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
	get(&r, me.access, "/v1/conversations?cursor=abc");
	assert_problem(&r, 400, "validation");
	resp_free(&r);
}

static void test_group_rules(void **state)
{
	struct resp r;
	struct user admin, m1, m2, outsider, extra[5];
	char id[37], path[160];
	(void)state;

	signup(&admin, "grp");
	signup(&m1, "grp");
	signup(&m2, "grp");
	signup(&outsider, "grp");
	json_post(&r, "/v1/conversations", admin.access,
		  "{\"type\":\"group\",\"title\":\"Team\",\"members\":[\"%s\",\"%s\",\"%s\"]}",
		  m1.id, m1.id, admin.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "title"), "Team");
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 2);
	assert_string_equal(jstr(r.json, "members.0.user_id"), admin.id);
	assert_string_equal(jstr(r.json, "members.0.role"), "admin");
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);

	json_post(&r, "/v1/conversations", admin.access, "{\"type\":\"group\",\"members\":[]}");
	assert_problem(&r, 400, "validation");
	assert_field_error(&r, "title");
	resp_free(&r);

	snprintf(path, sizeof(path), "/v1/conversations/%s/members", id);
	json_post(&r, path, m1.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	json_post(&r, path, outsider.access, "{\"user_id\":\"%s\"}", outsider.id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "role"), "member");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", m2.id);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);
	json_post(&r, path, admin.access, "{\"user_id\":\"nope\"}");
	assert_problem(&r, 400, "validation");
	resp_free(&r);

	/* the test instance's limit is 5 members */
	for (int i = 0; i < 2; i++) {
		signup(&extra[i], "grpx");
		json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", extra[i].id);
		assert_int_equal(r.status, 201);
		resp_free(&r);
	}
	signup(&extra[2], "grpx");
	json_post(&r, path, admin.access, "{\"user_id\":\"%s\"}", extra[2].id);
	assert_problem(&r, 409, "conflict");
	resp_free(&r);

	/* a member may not remove another, may leave; an admin removes anyone */
	snprintf(path, sizeof(path), "/v1/conversations/%s/members/%s", id, m2.id);
	http(&r, "DELETE", path, m1.access, NULL, 0, NULL, NULL);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
	http(&r, "DELETE", path, m2.access, NULL, 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	http(&r, "DELETE", path, admin.access, NULL, 0, NULL, NULL);
	assert_problem(&r, 404, "not-found");	/* m2 has left already */
	resp_free(&r);
}

static void test_group_admin_leaves(void **state)
{
	struct resp r;
	struct user admin, m1;
	char id[37], path[160];
	(void)state;

	signup(&admin, "lead");
	signup(&m1, "lead");
	json_post(&r, "/v1/conversations", admin.access,
		  "{\"type\":\"group\",\"title\":\"Lead\",\"members\":[\"%s\"]}", m1.id);
	snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
	resp_free(&r);
	snprintf(path, sizeof(path), "/v1/conversations/%s/members/%s", id, admin.id);
	http(&r, "DELETE", path, admin.access, NULL, 0, NULL, NULL);
	assert_int_equal(r.status, 204);
	resp_free(&r);
	/* the group is never without an admin */
	assert_int_equal(get(&r, m1.access, "/v1/conversations/%s", id), 200);
	assert_int_equal(json_object_array_length(jget(r.json, "members")), 1);
	assert_string_equal(jstr(r.json, "members.0.role"), "admin");
	resp_free(&r);
	get(&r, admin.access, "/v1/conversations/%s", id);
	assert_problem(&r, 403, "forbidden");
	resp_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_users_directory),
		cmocka_unit_test(test_private_conversation),
		cmocka_unit_test(test_conversation_list_paging),
		cmocka_unit_test(test_group_rules),
		cmocka_unit_test(test_group_admin_leaves),
	};

	client_begin();
	return cmocka_run_group_tests_name("api_conversations", tests, NULL, NULL);
}
