/*
 * chat4all-admin - what a sysadmin does from the shell:
 *   chat4all-admin migrate              apply migrations/ in order
 *   chat4all-admin promote USERNAME     make USERNAME an admin
 *   chat4all-admin demote USERNAME      make USERNAME a plain user
 *   chat4all-admin conf KEY             print a setting (not a secret)
 * It reads the same configuration as the servers (CHAT4ALL_CONF and
 * CHAT4ALL_* variables), so it acts on the instance they serve.
 */
#include "../lib/audit.h"
#include "../lib/conf.h"
#include "../lib/db.h"
#include "../lib/log.h"
#include "../lib/migrate.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: chat4all-admin migrate\n"
			"       chat4all-admin promote USERNAME\n"
			"       chat4all-admin demote USERNAME\n"
			"       chat4all-admin conf KEY\n");
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
		conf_release(&conf);
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
	} else {
		rc = usage();
	}
out:
	db_free(db);
	conf_release(&conf);
	return rc;
}
