/* Unit tests of lib/auth.c: passwords and tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/auth.h"
#include "../../lib/err.h"

#define KEY "0123456789abcdef0123456789abcdef"
#define USER "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SID "7c9e6679-7425-40de-944b-e07fc1f90ae7"

static void test_password(void **state)
{
	char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
	(void)state;

	assert_int_equal(auth_password_hash("correct horse", 1, 8192, h1), 0);
	assert_int_equal(auth_password_hash("correct horse", 1, 8192, h2), 0);
	assert_non_null(strstr(h1, "$argon2id$"));
	assert_string_not_equal(h1, h2);	/* salted */
	assert_true(auth_password_verify(h1, "correct horse"));
	assert_false(auth_password_verify(h1, "correct horsf"));
	assert_false(auth_password_verify("not a hash", "correct horse"));
}

static void test_access_token_roundtrip(void **state)
{
	struct auth_claims c;
	char *t = auth_access_issue(KEY, USER, "admin", SID, 900, 1000000);
	(void)state;

	assert_non_null(t);
	assert_int_equal(auth_access_verify(KEY, t, 1000000 + 899, &c), 0);
	assert_string_equal(c.user_id, USER);
	assert_string_equal(c.role, "admin");
	assert_string_equal(c.sid, SID);
	assert_int_equal(c.exp, 1000900);
	/* expired at exp, and from then on */
	assert_int_equal(auth_access_verify(KEY, t, 1000900, &c), ERR_AUTH);
	/* another key, no key, an empty key */
	assert_int_equal(auth_access_verify(KEY "x", t, 1000000, &c), ERR_AUTH);
	assert_int_equal(auth_access_verify(NULL, t, 1000000, &c), ERR_AUTH);
	assert_int_equal(auth_access_verify("", t, 1000000, &c), ERR_AUTH);
	/* one character of the signature changed */
	char *last = t + strlen(t) - 2;
	*last = *last == 'A' ? 'B' : 'A';
	assert_int_equal(auth_access_verify(KEY, t, 1000000, &c), ERR_AUTH);
	free(t);
	assert_null(auth_access_issue(NULL, USER, "user", SID, 900, 0));
}

static void test_alg_none_refused(void **state)
{
	struct auth_claims c;
	/* {"alg":"none","typ":"JWT"} . {"sub":USER,"role":"user","sid":SID,"exp":9999999999} . "" */
	const char *none =
		"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
		"eyJzdWIiOiIwZjhmYWQ1Yi1kOWNiLTQ2OWYtYTE2NS03MDg2NzcyODk1MGUiLCJyb2xlIjoidXNlciIs"
		"InNpZCI6IjdjOWU2Njc5LTc0MjUtNDBkZS05NDRiLWUwN2ZjMWY5MGFlNyIsImV4cCI6OTk5OTk5OTk5OX0.";
	(void)state;

	assert_int_equal(auth_access_verify(KEY, none, 1000, &c), ERR_AUTH);
	assert_int_equal(auth_access_verify(KEY, "", 1000, &c), ERR_AUTH);
	assert_int_equal(auth_access_verify(KEY, "a.b.c", 1000, &c), ERR_AUTH);
}

static void test_random_tokens(void **state)
{
	char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1], da[65], db[65], u[37];
	(void)state;

	assert_int_equal(auth_random_token(a), 0);
	assert_int_equal(auth_random_token(b), 0);
	assert_int_equal(strlen(a), AUTH_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
			 AUTH_TOKEN_LEN);
	auth_token_digest(a, da);
	auth_token_digest(b, db);
	assert_int_equal(strlen(da), 64);
	assert_string_not_equal(da, db);
	auth_token_digest("abc", da);
	assert_string_equal(da, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(auth_uuid(u), 0);
	assert_int_equal(u[14], '4');
	char v7a[37], v7b[37];
	assert_int_equal(auth_uuid7(v7a), 0);
	usleep(2000);
	assert_int_equal(auth_uuid7(v7b), 0);
	assert_int_equal(v7a[14], '7');
	assert_true(strchr("89ab", v7a[19]) != NULL);
	assert_true(strcmp(v7a, v7b) < 0);	/* later ones sort after */
	assert_true(auth_equal("same", "same", 4));
	assert_false(auth_equal("same", "sane", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_access_token_roundtrip),
		cmocka_unit_test(test_alg_none_refused),
		cmocka_unit_test(test_random_tokens),
	};
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
