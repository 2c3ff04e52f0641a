/* db: one asynchronous libpq connection driven by the libevent loop, one query at a time. */
#ifndef DRIFTWATCH_DB_H
#define DRIFTWATCH_DB_H

#include <libpq-fe.h>

struct event_base;
struct db_conn;

/* Called once when connecting finished: ok is 1 on success, 0 on failure (db_error says why). */
typedef void (*db_connect_cb)(struct db_conn *conn, int ok, void *arg);
/* Called once per query with its last result; res is NULL when the connection failed before a
 * result arrived (db_error says why). The db module PQclear()s res after the callback. */
typedef void (*db_result_cb)(struct db_conn *conn, PGresult *res, void *arg);

/* Called for each NOTIFY received (LISTEN is the caller's query). */
typedef void (*db_notify_cb)(struct db_conn *conn, const char *channel, const char *payload,
			     void *arg);

struct db_conn *db_conn_new(struct event_base *base, const char *conninfo, int log_level);
/* Closes and frees; the query in flight and every waiting one get their callback with res NULL
 * first (db_error: "the connection was closed"). */
void db_conn_free(struct db_conn *conn);

int db_connect(struct db_conn *conn, db_connect_cb cb, void *arg);

/* Sends sql with text parameters (values[i] NULL = SQL NULL). Queries sent while another is in
 * flight wait their turn (first in, first out; parameters are copied). If the connection is
 * lost, each waiting query's callback runs with res NULL. Returns 0 if sent or queued, -1 if
 * it could not be (db_error says why; cb not called). A callback must not free the conn. */
int db_query(struct db_conn *conn, const char *sql, int nparams, const char *const *values,
	     db_result_cb cb, void *arg);

/* Sends a script of several statements without parameters (migrations). The callback gets the
 * last statement's result, or the first error. Same rules as db_query. */
int db_script(struct db_conn *conn, const char *sql, db_result_cb cb, void *arg);

void db_set_notify_cb(struct db_conn *conn, db_notify_cb cb, void *arg);

/* Called once when an established connection breaks (not when connecting fails: db_connect's
 * callback says that). The callback may db_connect again, later, from a timer. */
typedef void (*db_lost_cb)(struct db_conn *conn, void *arg);
void db_set_lost_cb(struct db_conn *conn, db_lost_cb cb, void *arg);

/* Connected and usable (idle or busy). */
int db_is_up(const struct db_conn *conn);

/* Cancels the query in progress after timeout_s seconds (0 = never). */
void db_set_query_timeout(struct db_conn *conn, int timeout_s);

const char *db_error(const struct db_conn *conn);
/* A query is in flight or waiting. */
int db_busy(const struct db_conn *conn);
PGconn *db_pgconn(struct db_conn *conn);

/* PQescapeIdentifier into a malloc'd string, or NULL. */
char *db_escape_identifier(struct db_conn *conn, const char *ident);

#endif
