/* Integration test: prepared statements on db's asynchronous connection (db_prepare, db_prepared,
 * db_query_prepared) against the test PostgreSQL of tests/run.sh (PGHOST, PGPORT, PGUSER and
 * PGDATABASE from tests/lib/pg.sh). What eval's incremental evaluations rely on: a statement
 * is prepared once per session and from one text; a new session (a reconnect) prepares again;
 * a name held for another text is given back first; a failed PREPARE is reported and takes
 * nothing; a failed execution is prepared again before its next use; nothing leaks when the
 * connection is freed with statements queued (LeakSanitizer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "evwait.h"
#include "tap.h"

#define WAIT_S 20

struct answer {
	struct event_base *base;
	int done;
	int got_res;           /* a result came (not NULL: the query ran) */
	ExecStatusType status;
	char sqlstate[6];
	char value[256];       /* first column of the first row, if any */
};

static void on_answer(struct db_conn *conn, PGresult *res, void *arg)
{
	struct answer *a = arg;
	const char *code;

	(void)conn;
	a->done = 1;
	a->got_res = res != NULL;
	if (res) {
		a->status = PQresultStatus(res);
		code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(a->sqlstate, sizeof(a->sqlstate), "%s", code ? code : "");
		if (PQntuples(res) > 0 && PQnfields(res) > 0)
			snprintf(a->value, sizeof(a->value), "%s", PQgetvalue(res, 0, 0));
	}
	event_base_loopbreak(a->base);
}

/* Runs the loop until *flag is set, or WAIT_S seconds. Returns 0 when it was set. */
static int wait_for(struct event_base *base, const int *flag)
{
	return evwait_for(base, flag, WAIT_S);
}

static void answer_init(struct answer *a, struct event_base *base)
{
	memset(a, 0, sizeof(*a));
	a->base = base;
}

static struct answer query(struct event_base *base, struct db_conn *conn, const char *sql)
{
	struct answer a;

	answer_init(&a, base);
	if (db_query(conn, sql, 0, NULL, on_answer, &a) == 0)
		wait_for(base, &a.done);
	return a;
}

static struct answer prepare(struct event_base *base, struct db_conn *conn, const char *name,
			     const char *sql)
{
	struct answer a;

	answer_init(&a, base);
	if (db_prepare(conn, name, sql, on_answer, &a) == 0)
		wait_for(base, &a.done);
	return a;
}

static struct answer run(struct event_base *base, struct db_conn *conn, const char *name,
			 const char *param)
{
	struct answer a;
	const char *values[1] = { param };

	answer_init(&a, base);
	if (db_query_prepared(conn, name, 1, values, on_answer, &a) == 0)
		wait_for(base, &a.done);
	return a;
}

struct connected {
	struct event_base *base;
	int done;
	int ok;
};

static void on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct connected *c = arg;

	(void)conn;
	c->done = 1;
	c->ok = ok;
	event_base_loopbreak(c->base);
}

static int connect_now(struct event_base *base, struct db_conn *conn)
{
	struct connected c = { base, 0, 0 };

	if (db_connect(conn, on_connect, &c) < 0 || wait_for(base, &c.done) < 0)
		return -1;
	return c.ok ? 0 : -1;
}

static void on_lost(struct db_conn *conn, void *arg)
{
	(void)conn;
	*(int *)arg = 1;
}

#define A_SQL "SELECT $1::int + 1"
#define B_SQL "SELECT $1::int * 2"

static void test_prepare_and_run(struct event_base *base, struct db_conn *conn)
{
	struct answer a;

	tap_int(db_session(conn), 1, "the first connection is session 1");
	tap_int(db_prepared(conn, "dw_t", A_SQL), 0, "nothing is prepared in a new session");
	a = prepare(base, conn, "dw_t", A_SQL);
	tap_int(a.status, PGRES_COMMAND_OK, "db_prepare answers COMMAND_OK");
	tap_int(db_prepared(conn, "dw_t", A_SQL), 1, "db_prepared: yes for that name and text");
	tap_int(db_prepared(conn, "dw_t", B_SQL), 0, "db_prepared: no for another text");
	tap_int(db_prepared(conn, "dw_u", A_SQL), 0, "db_prepared: no for another name");
	a = run(base, conn, "dw_t", "41");
	tap_int(a.status, PGRES_TUPLES_OK, "db_query_prepared runs it");
	tap_str(a.value, "42", "with the parameter given");
}

/* A reload may change the text behind a name (the case schema); the old one is given back. */
static void test_new_text_same_name(struct event_base *base, struct db_conn *conn)
{
	struct answer a = prepare(base, conn, "dw_t", B_SQL);

	tap_int(a.status, PGRES_COMMAND_OK, "a name held for another text is prepared again");
	tap_int(db_prepared(conn, "dw_t", B_SQL), 1, "db_prepared: yes for the new text");
	tap_int(db_prepared(conn, "dw_t", A_SQL), 0, "db_prepared: no for the old one");
	a = run(base, conn, "dw_t", "21");
	tap_str(a.value, "42", "the new text runs");
	a = query(base, conn, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'dw_t' "
		  "AND statement LIKE '%* 2'");
	tap_str(a.value, "1", "the server holds the name once, for the new text");
}

static void test_failed_prepare(struct event_base *base, struct db_conn *conn)
{
	struct answer a = prepare(base, conn, "dw_bad", "SELEC $1::int");

	tap_int(a.status, PGRES_FATAL_ERROR, "a PREPARE that fails answers the server's error");
	tap_str(a.sqlstate, "42601", "(a syntax error)");
	tap_int(db_prepared(conn, "dw_bad", "SELEC $1::int"), 0, "and prepares nothing");
	a = prepare(base, conn, "dw_bad", A_SQL);
	tap_int(a.status, PGRES_COMMAND_OK, "the name is free for a good text afterwards");
}

/* eval prepares inside its read-only transaction; a ROLLBACK must not undo that silently. */
static void test_rollback_keeps(struct event_base *base, struct db_conn *conn)
{
	struct answer a = query(base, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");

	a = prepare(base, conn, "dw_tx", A_SQL);
	tap_int(a.status, PGRES_COMMAND_OK, "prepared inside a transaction");
	a = query(base, conn, "ROLLBACK");
	tap_int(db_prepared(conn, "dw_tx", A_SQL), 1, "still prepared after its ROLLBACK");
	a = run(base, conn, "dw_tx", "1");
	tap_str(a.value, "2", "and the server agrees: it runs");
}

static void test_failed_run(struct event_base *base, struct db_conn *conn)
{
	struct answer a = prepare(base, conn, "dw_div", "SELECT 6 / $1::int");

	a = run(base, conn, "dw_div", "0");
	tap_str(a.sqlstate, "22012", "an execution that fails answers its error");
	tap_int(db_prepared(conn, "dw_div", "SELECT 6 / $1::int"), 0,
		"the statement is to be prepared again before its next use");
	a = prepare(base, conn, "dw_div", "SELECT 6 / $1::int");
	tap_int(a.status, PGRES_COMMAND_OK, "preparing it again works (the old one was given back)");
	a = run(base, conn, "dw_div", "3");
	tap_str(a.value, "2", "and it runs");

	/* dropped behind the connection's back, as a pooler's DISCARD ALL would */
	a = query(base, conn, "DEALLOCATE ALL");
	a = run(base, conn, "dw_div", "3");
	tap_str(a.sqlstate, "26000", "a statement the server lost answers \"does not exist\"");
	tap_int(db_prepared(conn, "dw_div", "SELECT 6 / $1::int"), 0, "db_prepared then says no");
	a = prepare(base, conn, "dw_div", "SELECT 6 / $1::int");
	tap_int(a.status, PGRES_COMMAND_OK, "and it is prepared again (no DEALLOCATE of nothing)");
}

/* Requests queued behind a busy connection keep their order and their parameters. */
static void test_queued(struct event_base *base, struct db_conn *conn)
{
	struct answer sleep_a, prep_a, run_a;
	const char *values[1] = { "20" };

	answer_init(&sleep_a, base);
	answer_init(&prep_a, base);
	answer_init(&run_a, base);
	db_query(conn, "SELECT pg_sleep(0.05)", 0, NULL, on_answer, &sleep_a);
	db_prepare(conn, "dw_q", A_SQL, on_answer, &prep_a);
	db_query_prepared(conn, "dw_q", 1, values, on_answer, &run_a);
	wait_for(base, &run_a.done);
	tap_ok(sleep_a.done && prep_a.done && run_a.done, "three queued requests all answered");
	tap_int(prep_a.status, PGRES_COMMAND_OK, "the queued PREPARE ran");
	tap_str(run_a.value, "21", "the queued execution ran after it, with its parameter");
}

/* A new session has none of the old one's statements: they are prepared again. */
static void test_reconnect(struct event_base *base, struct db_conn *conn, struct db_conn *other)
{
	char sql[128];
	int lost = 0;
	struct answer a;

	db_set_lost_cb(conn, on_lost, &lost);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(db_pgconn(conn)));
	a = query(base, other, sql);
	tap_str(a.value, "t", "the first connection's server process is terminated");
	tap_int(wait_for(base, &lost), 0, "the connection hears it is lost");
	tap_int(connect_now(base, conn), 0, "and connects again");
	tap_int(db_session(conn), 2, "as session 2");
	tap_int(db_prepared(conn, "dw_t", B_SQL), 0, "where nothing is prepared");
	a = run(base, conn, "dw_t", "21");
	tap_str(a.sqlstate, "26000", "(the server agrees: the old name does not exist)");
	a = prepare(base, conn, "dw_t", B_SQL);
	tap_int(a.status, PGRES_COMMAND_OK, "it is prepared again in the new session");
	a = run(base, conn, "dw_t", "21");
	tap_str(a.value, "42", "and runs");
	db_set_lost_cb(conn, NULL, NULL);
}

/* Freed with requests waiting: each hears it will not run; LeakSanitizer checks the rest. */
static void test_free_with_queue(struct event_base *base, struct db_conn *conn)
{
	struct answer a[4];
	const char *values[1] = { "1" };

	for (int i = 0; i < 4; i++)
		answer_init(&a[i], base);
	db_query(conn, "SELECT pg_sleep(1)", 0, NULL, on_answer, &a[0]);
	db_prepare(conn, "dw_t", A_SQL, on_answer, &a[1]);   /* held for B: a DEALLOCATE first */
	db_prepare(conn, "dw_z", A_SQL, on_answer, &a[2]);
	db_query_prepared(conn, "dw_z", 1, values, on_answer, &a[3]);
	db_conn_free(conn);
	tap_ok(a[0].done && a[1].done && a[2].done && a[3].done && !a[0].got_res &&
	       !a[1].got_res && !a[2].got_res && !a[3].got_res,
	       "freeing the connection answers every waiting request with no result");
}

int main(void)
{
	struct event_base *base;
	struct db_conn *conn, *other;

	/* an integration test: without its server it fails, as a missing tool does */
	if (!getenv("PGPORT")) {
		tap_ok(false, "test_db_prepared needs the test PostgreSQL: PGPORT is not set (tests/run.sh "
		       "sets it)");
		return tap_status();
	}
	base = event_base_new();
	conn = db_conn_new(base, "", LOG_PRIO_WARNING);
	other = db_conn_new(base, "", LOG_PRIO_WARNING);
	if (!tap_ok(base && conn && other && connect_now(base, conn) == 0 &&
		    connect_now(base, other) == 0, "connect to the test PostgreSQL (port %s)",
		    getenv("PGPORT")))
		return tap_status();
	test_prepare_and_run(base, conn);
	test_new_text_same_name(base, conn);
	test_failed_prepare(base, conn);
	test_rollback_keeps(base, conn);
	test_failed_run(base, conn);
	test_queued(base, conn);
	test_reconnect(base, conn, other);
	test_free_with_queue(base, conn);
	db_conn_free(other);
	event_base_free(base);
	return tap_status();
}
