/* lockwait: who holds the lock a statement waited for until it was cancelled, said in its error. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/contract.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/utf8.h"

/* The server's own codes: the names are said in the message's language, the codes are not. */
#define LOCKWAIT_QUERY_CANCELED "57014"
#define LOCKWAIT_LOCK_NOT_AVAILABLE "55P03"

bool lockwait_cancelled(const PGresult *res)
{
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return code && (strcmp(code, LOCKWAIT_QUERY_CANCELED) == 0 ||
			strcmp(code, LOCKWAIT_LOCK_NOT_AVAILABLE) == 0);
}

/* A question in flight: what to say, and to whom, once it is answered. */
struct lockwait_ask {
	char *error;
	lockwait_said_cb cb;
	void *arg;
};

static void lockwait_on_before(struct db_conn *conn, PGresult *res, void *arg)
{
	/* a failure shows in the question after it, and in the caller's undo */
	(void)conn;
	(void)res;
	(void)arg;
}

static void lockwait_on_answer(struct db_conn *conn, PGresult *res, void *arg)
{
	struct lockwait_ask *a = arg;
	char *said = res ? lockwait_describe(a->error, res) : NULL;

	(void)conn;
	a->cb(said ? said : a->error, a->arg);
	free(said);
	free(a->error);
	free(a);
}

int lockwait_explain(struct db_conn *conn, const char *schema, const char *const *names,
		     size_t n, const char *before, const char *error, lockwait_said_cb cb,
		     void *arg)
{
	struct lockwait_ask *a = calloc(1, sizeof(*a));
	char *array = strbuf_text_array(names, n);
	const char *params[2] = { schema, array };

	if (!a || !array || !(a->error = strdup(error ? error : "")))
		goto fail;
	a->cb = cb;
	a->arg = arg;
	if (before && db_script(conn, before, lockwait_on_before, NULL) < 0)
		goto fail;
	if (db_query(conn, sql_lock_holders, 2, params, lockwait_on_answer, a) < 0)
		goto fail;
	free(array);
	return 0;
fail:
	if (a)
		free(a->error);
	free(a);
	free(array);
	return -1;
}

size_t lockwait_relations_read(const char *sql, const char **names, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < contract_relation_count() && n < max; i++)
		if (contract_sql_reads(sql, contract_relation(i)))
			names[n++] = contract_relation(i);
	return n;
}

static const char *lockwait_field(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* "pid 42 (application etl, user etl, its transaction open since 2026-12-05 21:50:03 UTC)":
 * what pg_stat_activity shows this role (another role's sessions show less). The pid is in
 * column pid_col, the application, the user and the time in the three from app_col. */
static void lockwait_session(struct strbuf *sb, const PGresult *res, int row, int pid_col,
			     int app_col)
{
	const char *app = lockwait_field(res, row, app_col);
	const char *user = lockwait_field(res, row, app_col + 1);
	const char *since = lockwait_field(res, row, app_col + 2);
	const char *sep = " (";

	strbuf_printf(sb, "pid %s", PQgetvalue(res, row, pid_col));
	if (app && *app) {
		strbuf_printf(sb, "%sapplication %s", sep, app);
		sep = ", ";
	}
	if (user && *user) {
		strbuf_printf(sb, "%suser %s", sep, user);
		sep = ", ";
	}
	if (since && *since) {
		strbuf_printf(sb, "%sits transaction open since %s UTC", sep, since);
		sep = ", ";
	}
	if (strcmp(sep, ", ") == 0)
		strbuf_append(sb, ")");
}

static void lockwait_relation(struct strbuf *sb, const PGresult *res, int row)
{
	strbuf_append(sb, PQgetvalue(res, row, 0));
	if (strcmp(PQgetvalue(res, row, 2), "t") != 0)
		strbuf_printf(sb, " (under %s)", PQgetvalue(res, row, 1));
}

/* The text taken, as UTF-8: in a SQL_ASCII database a table's or a role's name may hold any
 * bytes, and this text goes into JSON (the operators' report, /healthz). */
static char *lockwait_repaired(struct strbuf *sb)
{
	char *raw = strbuf_take(sb);
	char *text = raw ? utf8_repair(raw, NULL) : NULL;

	free(raw);
	return text;
}

char *lockwait_describe(const char *error, const PGresult *res)
{
	struct strbuf sb;
	int rows = res && PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;

	strbuf_init(&sb);
	strbuf_append(&sb, error ? error : "");
	for (int i = 0; i < rows && PQnfields(res) >= 8; i++) {
		strbuf_append(&sb, "; ");
		if (strcmp(PQgetvalue(res, i, 4), "t") == 0) {
			lockwait_relation(&sb, res, i);
			strbuf_append(&sb, " is locked by another session: ");
			lockwait_session(&sb, res, i, 3, 5);
		} else {
			lockwait_session(&sb, res, i, 3, 5);
			strbuf_append(&sb, " waits to lock ");
			lockwait_relation(&sb, res, i);
			strbuf_append(&sb, ", and reads queue behind it");
		}
	}
	return lockwait_repaired(&sb);
}

/* ---- who a waiting session waits for ---- */

struct lockwait_blockers_ask {
	lockwait_said_cb cb;
	void *arg;
};

static void lockwait_on_blockers(struct db_conn *conn, PGresult *res, void *arg)
{
	struct lockwait_blockers_ask *a = arg;
	char *said = lockwait_blockers_describe(res);

	(void)conn;
	a->cb(said, a->arg);
	free(said);
	free(a);
}

int lockwait_blockers(struct db_conn *ask_on, int pid, lockwait_said_cb cb, void *arg)
{
	struct lockwait_blockers_ask *a = calloc(1, sizeof(*a));
	char text[24];
	const char *params[1] = { text };

	if (!a)
		return -1;
	a->cb = cb;
	a->arg = arg;
	snprintf(text, sizeof(text), "%d", pid);
	if (db_query(ask_on, sql_blocking_pids, 1, params, lockwait_on_blockers, a) < 0) {
		free(a);
		return -1;
	}
	return 0;
}

char *lockwait_blockers_describe(const PGresult *res)
{
	struct strbuf sb;
	int rows;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) < 5)
		return NULL;
	rows = PQntuples(res);
	strbuf_init(&sb);
	if (rows == 0)
		strbuf_append(&sb, "not blocked by another session");
	for (int i = 0; i < rows; i++) {
		const char *what = PQgetvalue(res, i, 0);

		if (i == 0 && *what)
			strbuf_printf(&sb, "waiting %s, held by ", what);
		else if (i == 0)
			strbuf_append(&sb, "blocked by ");
		else
			strbuf_append(&sb, " and ");
		lockwait_session(&sb, res, i, 1, 2);
	}
	return lockwait_repaired(&sb);
}
