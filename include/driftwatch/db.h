/* db: one asynchronous libpq connection driven by the libevent loop, one query at a time. */
#ifndef DRIFTWATCH_DB_H
#define DRIFTWATCH_DB_H

#include <time.h>

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

/* Prepared statements. A named statement lasts as long as the server session that prepared
 * it; the connection remembers which names it prepared in the current session and from which
 * text, and forgets them all when the session ends (db_connect, a lost connection), so a
 * caller asks db_prepared before each use and prepares again when the answer is no. */

/* Longer names would be cut by the server (NAMEDATALEN). */
#define DB_STMT_NAME_MAX 64

/* 1 when name was prepared from exactly sql in the current session and is usable: 0 after a
 * reconnect, when the text differs (a reload changed the case schema), or when its last
 * execution failed. */
int db_prepared(const struct db_conn *conn, const char *name, const char *sql);

/* Prepares sql as name; parameter types come from sql's casts. A name this session holds for
 * another text is deallocated first. The callback gets PGRES_COMMAND_OK (db_prepared then
 * answers 1) or the server's error. Queued and refused as db_query. */
int db_prepare(struct db_conn *conn, const char *name, const char *sql, db_result_cb cb,
	       void *arg);

/* Executes the statement db_prepare prepared as name, as db_query would run its text. When
 * it fails, db_prepared answers 0 for it until it is prepared again, so that an error that
 * would repeat on every use (a view's column type changed under the plan, the statement
 * dropped behind our back) is not repeated for ever. */
int db_query_prepared(struct db_conn *conn, const char *name, int nparams,
		      const char *const *values, db_result_cb cb, void *arg);

/* Sessions established so far: 1 after the first connect, one more for each reconnect. */
unsigned long db_session(const struct db_conn *conn);

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

/* The server's reason when res is its refusal of a character the database's encoding and
 * UTF-8 do not share (SQLSTATE 22P05, 22021: a parameter "Ł" in a WIN1252 database); NULL for
 * any other result. */
const char *db_untranslatable(const PGresult *res);
/* A query is in flight or waiting. */
int db_busy(const struct db_conn *conn);

/* A statement of this connection cancelled by the server (57014: a statement_timeout that the
 * role or the database sets) renews the session after its callback, when it is a minute old:
 * for connections whose statements set no statement_timeout of their own. Needs a lost
 * callback (the owner reconnects). */
void db_renew_on_cancel(struct db_conn *conn);

/* From a result callback: the session is renewed after it (same rules as db_renew_on_cancel). */
void db_renew(struct db_conn *conn);

/* When the query in flight was sent (0: none in flight), and its serial number in *query. */
time_t db_sent_at(const struct db_conn *conn, unsigned long *query);

/* What another session learnt of query number `query` ("waiting to lock driftwatch.outbox,
 * held by pid 42 (...)"): if its deadline then drops the connection, the error says so.
 * Ignored when that query is no longer in flight. */
void db_note_wait(struct db_conn *conn, unsigned long query, const char *note);
PGconn *db_pgconn(struct db_conn *conn);

/* Called from a result callback: the callee keeps res (and PQclear()s it) instead of the db
 * module, e.g. a rule's first rows fetched ahead on one connection for a run on another. */
void db_keep_result(struct db_conn *conn);

/* PQescapeIdentifier into a malloc'd string, or NULL. */
char *db_escape_identifier(struct db_conn *conn, const char *ident);

#endif
