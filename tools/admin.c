/*
 * chat4all-admin - what a sysadmin does from the shell:
 *   chat4all-admin migrate              apply migrations/ in order
 *   chat4all-admin promote USERNAME     make USERNAME an admin
 *   chat4all-admin demote USERNAME      make USERNAME a plain user
 *   chat4all-admin agent USERNAME       let channel_owner name USERNAME
 *   chat4all-admin not-agent USERNAME   ... and no longer
 *   chat4all-admin create USERNAME [--admin] [--agent]
 *                                       a new account; its password is the
 *                                       first line of standard input
 *   chat4all-admin conf KEY             print a setting (not a secret)
 *   chat4all-admin backup DIR           the database and the files, consistent
 *   chat4all-admin restore DIR          ... back into an empty instance (backup.h)
 * It reads the same configuration as the servers (CHAT4ALL_CONF and
 * CHAT4ALL_* variables), so it acts on the instance they serve.
 */
#include "backup.h"

#include "../lib/audit.h"
#include "../lib/auth.h"
#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/log.h"
#include "../lib/migrate.h"
#include "../lib/validate.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: chat4all-admin migrate\n"
			"       chat4all-admin promote USERNAME\n"
			"       chat4all-admin demote USERNAME\n"
			"       chat4all-admin agent USERNAME\n"
			"       chat4all-admin not-agent USERNAME\n"
			"       chat4all-admin create USERNAME [--admin] [--agent] < password\n"
			"       chat4all-admin conf KEY\n"
			"       chat4all-admin backup DIR\n"
			"       chat4all-admin restore DIR\n");
	return 2;
}

static int set_role(struct db *db, const char *username, const char *role)
{
	const char *params[] = { username, role };
	PGresult *res = NULL;
	int rc = 1;

	if (db_exec(db, SQL_USER_SET_ROLE, params, &res)) {
		fprintf(stderr, "chat4all-admin: cannot update '%s'\n", username);
	} else if (!PQntuples(res)) {
		fprintf(stderr, "chat4all-admin: no user '%s'\n", username);
	} else {
		audit_write(db, NULL, !strcmp(role, "admin") ? "promote" : "demote",
			    username, "console", NULL);
		printf("%s is now %s\n", username, !strcmp(role, "admin") ? "an admin" : "a user");
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* Agents are who channel_owner may name: only made here, never by sign-up. */
static int set_agent(struct db *db, const char *username, bool agent)
{
	const char *params[] = { username, agent ? "true" : "false" };
	PGresult *res = NULL;
	int rc = 1;

	if (db_exec(db, SQL_USER_SET_AGENT, params, &res)) {
		fprintf(stderr, "chat4all-admin: cannot update '%s'\n", username);
	} else if (!PQntuples(res)) {
		fprintf(stderr, "chat4all-admin: no person '%s'\n", username);
	} else {
		audit_write(db, NULL, agent ? "agent" : "not-agent", username, "console", NULL);
		printf("%s %s\n", username, agent ? "is now an agent: channel_owner may name it"
						   : "is no longer an agent");
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* A new account (a team's agent, the first admin) without open sign-up. */
static int create_user(struct db *db, const struct conf *conf, int argc, char **argv)
{
	const char *username = argv[2];
	bool admin = false, agent = false;
	char password[1100], hash[AUTH_HASH_MAX];
	PGresult *res = NULL;
	int rc = 1;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--admin"))
			admin = true;
		else if (!strcmp(argv[i], "--agent"))
			agent = true;
		else
			return usage();
	}
	if (!validate_username(username)) {
		fprintf(stderr, "chat4all-admin: a username is 3 to 32 of a-z, 0-9, '_', '.', '-'\n");
		return 1;
	}
	if (!fgets(password, sizeof(password), stdin)) {
		fprintf(stderr, "chat4all-admin: give the password on standard input\n");
		return 1;
	}
	password[strcspn(password, "\r\n")] = '\0';
	if (validate_utf8_chars(password) < 8) {
		fprintf(stderr, "chat4all-admin: the password must be at least 8 characters\n");
		return 1;
	}
	if (auth_password_hash(password, (uint32_t)conf->argon2_iterations,
			       (uint32_t)conf->argon2_memory_kib, hash))
		return 1;
	const char *params[] = { username, username, hash };
	if (db_exec(db, SQL_USER_INSERT, params, &res)) {
		fprintf(stderr, "chat4all-admin: cannot create '%s' (taken?)\n", username);
		PQclear(res);
		return 1;
	}
	audit_write(db, NULL, "create", username, "console", NULL);
	printf("%s created\n", username);
	PQclear(res);
	rc = 0;
	if (admin)
		rc |= set_role(db, username, "admin");
	if (agent)
		rc |= set_agent(db, username, true);
	return rc;
}

int main(int argc, char **argv)
{
	struct conf conf;
	struct db *db = NULL;
	char err[512];
	int rc = 1;

	if (argc < 2)
		return usage();
	if (conf_load(&conf, NULL, err, sizeof(err))) {
		fprintf(stderr, "chat4all-admin: %s\n", err);
		return 1;
	}
	log_open("-", conf.log_level, "admin");
	if (!strcmp(argv[1], "conf") && argc == 3) {	/* no database needed */
		char v[4096];
		rc = conf_format(&conf, argv[2], v, sizeof(v));
		if (rc)
			fprintf(stderr, "chat4all-admin: no setting '%s' to show\n", argv[2]);
		else
			printf("%s\n", v);
		conf_free(&conf);
		return rc ? 1 : 0;
	}
	if (!(db = db_open(conf.database_url)) || db_ping(db)) {
		fprintf(stderr, "chat4all-admin: cannot reach the database\n");
		goto out;
	}
	if (!strcmp(argv[1], "migrate") && argc == 2) {
		int n = migrate_apply(db, conf.migrations_dir);
		if (n >= 0) {
			printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
			rc = 0;
		}
	} else if (!strcmp(argv[1], "promote") && argc == 3) {
		rc = set_role(db, argv[2], "admin");
	} else if (!strcmp(argv[1], "demote") && argc == 3) {
		rc = set_role(db, argv[2], "user");
	} else if (!strcmp(argv[1], "agent") && argc == 3) {
		rc = set_agent(db, argv[2], true);
	} else if (!strcmp(argv[1], "not-agent") && argc == 3) {
		rc = set_agent(db, argv[2], false);
	} else if (!strcmp(argv[1], "create") && argc >= 3) {
		rc = create_user(db, &conf, argc, argv);
	} else if (!strcmp(argv[1], "backup") && argc == 3) {
		rc = backup_run(db, &conf, argv[2]);
	} else if (!strcmp(argv[1], "restore") && argc == 3) {
		rc = restore_run(db, &conf, argv[2]);
	} else {
		rc = usage();
	}
out:
	db_free(db);
	conf_free(&conf);
	return rc;
}
