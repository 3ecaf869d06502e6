/*
 * fcgi_insert - the ceiling of the send path: a bare FastCGI responder that
 * reads the body and does one prepared INSERT per request, committed
 * synchronously, and answers 202. Same lighttpd, same process count, same
 * PostgreSQL as chat4all-api; nothing else.
 */
#include <fcgiapp.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	const char *conninfo = getenv("CHAT4ALL_DATABASE_URL");
	PGconn *db = PQconnectdb(conninfo ? conninfo : "");
	FCGX_Request fr;
	char body[65536];

	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "fcgi_insert: %s", PQerrorMessage(db));
		return 1;
	}
	PQclear(PQprepare(db, "ins", "INSERT INTO bench_insert (payload) VALUES ($1)", 0, NULL));
	FCGX_Init();
	FCGX_InitRequest(&fr, 0, 0);
	while (FCGX_Accept_r(&fr) >= 0) {
		const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr.envp);
		int len = cl ? atoi(cl) : 0, got = 0;
		if (len >= (int)sizeof(body))
			len = sizeof(body) - 1;
		while (got < len) {
			int n = FCGX_GetStr(body + got, len - got, fr.in);
			if (n <= 0)
				break;
			got += n;
		}
		body[got] = '\0';
		const char *params[] = { body };
		PGresult *r = PQexecPrepared(db, "ins", 1, params, NULL, NULL, 0);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		FCGX_PutS(ok ? "Status: 202\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
			     : "Status: 500\r\nContent-Length: 0\r\n\r\n", fr.out);
		FCGX_Finish_r(&fr);
	}
	return 0;
}
