/* db: an asynchronous libpq connection on the libevent loop; the loop never waits on the server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/strbuf.h"

#define DB_CONNECT_TIMEOUT_S 15

enum db_state {
	DB_IDLE,        /* not connected */
	DB_CONNECTING,
	DB_READY,       /* connected, no query */
	DB_BUSY,        /* a query is in flight */
	DB_FAILED       /* the connection broke; db_error says why */
};

static const char *const db_state_names[] = { "idle", "connecting", "ready", "busy", "failed" };

/* What a request sends: libpq has one call for each. */
enum db_kind {
	DB_PARAMS,      /* one statement with parameters (PQsendQueryParams) */
	DB_SCRIPT,      /* several statements, no parameters (PQsendQuery) */
	DB_PREPARE,     /* sql prepared as name (PQsendPrepare) */
	DB_PREPARED     /* the statement prepared as name, with parameters (PQsendQueryPrepared) */
};

/* One request as the caller gave it; nothing here is owned. */
struct db_req {
	enum db_kind kind;
	const char *name;     /* DB_PREPARE, DB_PREPARED */
	const char *sql;      /* not for DB_PREPARED */
	int nparams;
	const char *const *values;
	db_result_cb cb;
	void *arg;
};

/* A query waiting for the one in flight to finish: libpq runs one at a time per connection. */
struct db_pending {
	struct db_pending *next;
	enum db_kind kind;
	char *name;
	char *sql;
	int nparams;
	char **values;
	db_result_cb cb;
	void *arg;
};

/* A statement prepared in the current session, and the text it was prepared from: the server
 * forgets it when the session ends, and so does this list (db_close). */
struct db_stmt {
	struct db_stmt *next;
	char *name;
	char *sql;            /* NULL once an execution failed: prepare it again before use */
};

struct db_conn {
	struct event_base *base;
	struct db_pending *queue_head;
	struct db_pending *queue_tail;
	char *conninfo;
	PGconn *pg;
	struct event *ev_read;      /* persistent while connected: results and lost connections */
	struct event *ev_write;     /* one-shot while output is pending */
	struct event *ev_timeout;   /* the current query's deadline */
	enum db_state state;
	int log_level;
	int timeout_s;
	db_connect_cb connect_cb;
	void *connect_arg;
	db_result_cb result_cb;
	void *result_arg;
	db_notify_cb notify_cb;
	void *notify_arg;
	db_lost_cb lost_cb;
	void *lost_arg;
	PGresult *last;             /* the latest result of the query in flight */
	int kept;                   /* the callback took its result (db_keep_result) */
	struct db_stmt *stmts;      /* prepared in the current session */
	unsigned long session;      /* sessions established so far (db_session) */
	time_t sent_at;             /* the query in flight was sent; 0: none */
	unsigned long sent;         /* queries sent so far: the one in flight's serial number */
	char wait_note[320];        /* whom it waits for, as another session saw (db_note_wait) */
	time_t began;               /* the current session was established */
	int renew_on_cancel;        /* db_renew_on_cancel */
	int renew;                  /* db_renew: end the session after the current callback */
	char err[512];
};

#define conn (conn)

static void db_set_state(struct db_conn *conn, enum db_state st)
{
	log_debug(conn, "database: %s -> %s", db_state_names[conn->state],
		  db_state_names[st]);
	conn->state = st;
}

/* libpq's messages run over several lines ("server closed the connection unexpectedly\n\tThis
 * probably means..."); each run of white space becomes one space, because the error ends up
 * in a log line and a /healthz reason, and each must be one line. */
static void db_one_line(char *s)
{
	char *start = s, *out = s;
	int gap = 0;

	for (; *s; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t' || *s == ' ') {
			gap = 1;
			continue;
		}
		if (gap && out != start)
			*out++ = ' ';
		gap = 0;
		*out++ = *s;
	}
	*out = '\0';
}

static void db_set_error(struct db_conn *conn, const char *what)
{
	const char *why = conn->pg ? PQerrorMessage(conn->pg) : "";

	while (*why == ' ' || *why == '\n')
		why++;
	snprintf(conn->err, sizeof(conn->err), "%s%s%s", what, *why ? ": " : "", why);
	db_one_line(conn->err);
}

static void db_drop_events(struct db_conn *conn)
{
	if (conn->ev_read)
		event_free(conn->ev_read);
	if (conn->ev_write)
		event_free(conn->ev_write);
	conn->ev_read = conn->ev_write = NULL;
	if (conn->ev_timeout)
		evtimer_del(conn->ev_timeout);
}

static void db_stmt_free(struct db_stmt *st)
{
	if (!st)
		return;
	free(st->name);
	free(st->sql);
	free(st);
}

/* The statement of the current session named name, or NULL; *link is where it is linked from. */
static struct db_stmt **db_stmt_link(struct db_conn *conn, const char *name)
{
	struct db_stmt **link = &conn->stmts;

	while (*link && strcmp((*link)->name, name) != 0)
		link = &(*link)->next;
	return link;
}

static void db_stmt_forget(struct db_conn *conn, const char *name)
{
	struct db_stmt **link = db_stmt_link(conn, name);
	struct db_stmt *st = *link;

	if (!st)
		return;
	*link = st->next;
	db_stmt_free(st);
}

static void db_close(struct db_conn *conn)
{
	struct db_stmt *st;

	/* A new session starts with no prepared statements: none of these may be used again. */
	while ((st = conn->stmts) != NULL) {
		conn->stmts = st->next;
		db_stmt_free(st);
	}
	db_drop_events(conn);
	if (conn->last)
		PQclear(conn->last);
	conn->last = NULL;
	if (conn->pg)
		PQfinish(conn->pg);
	conn->pg = NULL;
}

struct db_conn *db_conn_new(struct event_base *base, const char *conninfo, int log_level)
{
	struct db_conn *conn = calloc(1, sizeof(*conn));

	if (!conn)
		return NULL;
	conn->base = base;
	conn->log_level = log_level;
	conn->conninfo = strdup(conninfo);
	conn->ev_timeout = evtimer_new(base, NULL, NULL);
	if (!conn->conninfo || !conn->ev_timeout) {
		db_conn_free(conn);
		return NULL;
	}
	return conn;
}

static void db_queue_drop(struct db_conn *conn);
static void db_queue_fail(struct db_conn *conn);
static void db_query_finish(struct db_conn *conn, PGresult *res);

void db_conn_free(struct db_conn *conn)
{
	if (!conn)
		return;
	/* Whoever still waits on a query hears that it will not finish, so nothing it owns leaks;
	 * the FAILED state makes any query those callbacks try refuse at once. */
	conn->state = DB_FAILED;
	snprintf(conn->err, sizeof(conn->err), "the connection was closed");
	if (conn->result_cb)
		db_query_finish(conn, NULL);
	else
		db_queue_fail(conn);
	db_queue_drop(conn);
	db_close(conn);
	if (conn->ev_timeout)
		event_free(conn->ev_timeout);
	free(conn->conninfo);
	free(conn);
}

const char *db_error(const struct db_conn *conn)
{
	return conn->err[0] ? conn->err : "no error";
}

void db_keep_result(struct db_conn *conn)
{
	conn->kept = 1;
}

PGconn *db_pgconn(struct db_conn *conn)
{
	return conn->pg;
}

char *db_escape_identifier(struct db_conn *conn, const char *ident)
{
	char *esc, *copy;

	if (!conn->pg)
		return NULL;
	esc = PQescapeIdentifier(conn->pg, ident, strlen(ident));
	if (!esc)
		return NULL;
	/* Callers free with free(), not PQfreemem(). */
	copy = strdup(esc);
	PQfreemem(esc);
	return copy;
}

void db_set_notify_cb(struct db_conn *conn, db_notify_cb cb, void *arg)
{
	conn->notify_cb = cb;
	conn->notify_arg = arg;
}

void db_set_lost_cb(struct db_conn *conn, db_lost_cb cb, void *arg)
{
	conn->lost_cb = cb;
	conn->lost_arg = arg;
}

int db_is_up(const struct db_conn *conn)
{
	return conn->state == DB_READY || conn->state == DB_BUSY;
}

void db_set_query_timeout(struct db_conn *conn, int timeout_s)
{
	conn->timeout_s = timeout_s;
}

/* ---- connecting ---- */

static void db_connect_step(evutil_socket_t fd, short what, void *arg);

static void db_connect_finish(struct db_conn *conn, int ok)
{
	db_connect_cb cb = conn->connect_cb;

	evtimer_del(conn->ev_timeout);
	conn->connect_cb = NULL;
	cb(conn, ok, conn->connect_arg);
}

static void db_connect_fail(struct db_conn *conn, const char *what)
{
	db_set_error(conn, what);
	db_close(conn);
	db_set_state(conn, DB_FAILED);
	db_connect_finish(conn, 0);
}

static void db_on_readable(evutil_socket_t fd, short what, void *arg);

static int db_arm_connected(struct db_conn *conn)
{
	int fd = PQsocket(conn->pg);

	db_drop_events(conn);
	conn->ev_read = event_new(conn->base, fd, EV_READ | EV_PERSIST, db_on_readable, conn);
	if (!conn->ev_read || event_add(conn->ev_read, NULL) < 0)
		return -1;
	return 0;
}

/* libpq may switch sockets while connecting (several hosts in the conninfo), so each step
 * waits on the socket PQsocket names now, for the direction PQconnectPoll asked for. */
static void db_connect_wait(struct db_conn *conn, PostgresPollingStatusType poll)
{
	short dir = poll == PGRES_POLLING_WRITING ? EV_WRITE : EV_READ;

	db_drop_events(conn);
	conn->ev_write = event_new(conn->base, PQsocket(conn->pg), dir, db_connect_step, conn);
	if (!conn->ev_write || event_add(conn->ev_write, NULL) < 0)
		db_connect_fail(conn, "could not wait for the database socket");
}

/* Server NOTICEs ("already exists, skipping") are chatter, not events: debug level only. */
static void db_on_notice(void *arg, const char *message)
{
	struct db_conn *conn = arg;
	size_t n = strlen(message);

	while (n > 0 && message[n - 1] == '\n')
		n--;
	log_debug(conn, "database notice: %.*s", (int)n, message);
}

/* A database in a single-byte encoding other than UTF-8 may hold characters that have no UTF-8
 * equivalent (WIN1252's 0x81, 0x8D, 0x8F, 0x90 and 0x9D): the server refuses to send a value
 * holding one to a UTF-8 client, and one such byte in one child's row failed a rule for every
 * child. The session learns which characters they are, a subtransaction per byte, and keeps
 * them in driftwatch.untranslatable, from which the statements that send case data replace
 * them with '?' (rules/alert_rows.sql). Multibyte encodings are not enumerated. */
static const char db_untranslatable_sql[] =
	"DO $dw$\n"
	"DECLARE\n"
	"    enc name := getdatabaseencoding();\n"
	"    bad text := '';\n"
	"BEGIN\n"
	"    IF pg_encoding_max_length(pg_char_to_encoding(enc)) = 1 THEN\n"
	"        FOR b IN 128..255 LOOP\n"
	"            BEGIN\n"
	"                PERFORM convert(decode(to_hex(b), 'hex'), enc, 'UTF8');\n"
	"            EXCEPTION WHEN untranslatable_character OR character_not_in_repertoire THEN\n"
	"                bad := bad || convert_from(decode(to_hex(b), 'hex'), enc);\n"
	"            END;\n"
	"        END LOOP;\n"
	"    END IF;\n"
	"    PERFORM set_config('driftwatch.untranslatable', bad, false);\n"
	"END\n"
	"$dw$";

const char *db_untranslatable(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *why;

	if (!state || (strcmp(state, "22P05") != 0 && strcmp(state, "22021") != 0))
		return NULL;
	why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	return why ? why : "no reason given";
}

/* Without the list (no PL/pgSQL in the database), the session still serves: a value holding
 * such a character fails the statement that sends it, as before, and nothing else. */
static void db_on_untranslatable(struct db_conn *conn, PGresult *res, void *arg)
{
	const char *why;

	(void)arg;
	if (!res) {
		db_connect_fail(conn, "could not set up the session (the characters of its "
				      "encoding that UTF-8 lacks)");
		return;
	}
	why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn(conn, "database: could not list the characters of the database's encoding "
			       "(%s) that have no UTF-8 equivalent: %s; a value holding one fails "
			       "the statement that reads it",
			 PQparameterStatus(conn->pg, "server_encoding"), why ? why : "no reason given");
	db_connect_finish(conn, 1);
}

static void db_on_session_set(struct db_conn *conn, PGresult *res, void *arg)
{
	const char *enc;

	(void)arg;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_connect_fail(conn, "could not set up the session (DateStyle, "
				      "idle_in_transaction_session_timeout, client_encoding)");
		return;
	}
	enc = PQparameterStatus(conn->pg, "server_encoding");
	if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0) {
		if (db_script(conn, db_untranslatable_sql, db_on_untranslatable, NULL) < 0)
			db_connect_fail(conn, "could not set up the session");
		return;
	}
	db_connect_finish(conn, 1);
}

/* What every session needs whatever the role or database sets (ALTER ROLE ... SET): dates
 * written ISO (a role with DateStyle SQL, DMY put "15/06/2026" in every alert's as_of, and the
 * escalation, which reads a date back, never started); and no idle-in-transaction timeout (the
 * recording transaction waits idle while the rules run, and a DBA's timeout ended every long
 * evaluation unrecorded). The connection asks for UTF-8 (db_connect): a database that knows its
 * encoding converts to it. One in SQL_ASCII knows nothing, and would refuse to send any byte
 * that is not UTF-8; asking for SQL_ASCII instead gets the bytes as stored, and driftwatch
 * repairs what it shows (utf8.h). */
static void db_session_setup(struct db_conn *conn)
{
	static const char common[] = "SET DateStyle TO ISO; "
				     "SET idle_in_transaction_session_timeout TO 0";
	static const char ascii[] = "SET DateStyle TO ISO; "
				    "SET idle_in_transaction_session_timeout TO 0; "
				    "SET client_encoding TO 'SQL_ASCII'";
	const char *enc = PQparameterStatus(conn->pg, "server_encoding");

	if (db_script(conn, enc && strcmp(enc, "SQL_ASCII") == 0 ? ascii : common,
		      db_on_session_set, NULL) < 0)
		db_connect_fail(conn, "could not set up the session");
}

static void db_connect_step(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	PostgresPollingStatusType poll;

	(void)fd;
	(void)what;
	poll = PQconnectPoll(conn->pg);
	if (poll == PGRES_POLLING_FAILED) {
		db_connect_fail(conn, "could not connect to the database");
		return;
	}
	if (poll != PGRES_POLLING_OK) {
		db_connect_wait(conn, poll);
		return;
	}
	PQsetNoticeProcessor(conn->pg, db_on_notice, conn);
	if (PQsetnonblocking(conn->pg, 1) != 0 || db_arm_connected(conn) < 0) {
		db_connect_fail(conn, "could not set up the database connection");
		return;
	}
	conn->session++;
	conn->began = time(NULL);
	db_set_state(conn, DB_READY);
	db_session_setup(conn);
}

/* libpq enforces connect_timeout only in its blocking calls, so the loop keeps its own. */
static void db_on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	char msg[96];

	(void)fd;
	(void)what;
	snprintf(msg, sizeof(msg), "no answer from the database within %d seconds",
		 DB_CONNECT_TIMEOUT_S);
	if (conn->pg)
		PQfinish(conn->pg);
	conn->pg = NULL;
	db_connect_fail(conn, msg);
}

int db_connect(struct db_conn *conn, db_connect_cb cb, void *arg)
{
	struct timeval tv = { DB_CONNECT_TIMEOUT_S, 0 };

	/* Before the conninfo, so that it may say otherwise: TCP keepalives after a minute idle
	 * (the system's default is two hours), so that a firewall or NAT does not expire the
	 * listener's idle flow unseen, and a peer gone without a word is noticed (audit 18).
	 * After it, so it wins: every value driftwatch reads is then UTF-8 where the database
	 * knows its encoding, and the bytes as stored where it does not (SQL_ASCII). */
	const char *keys[] = { "keepalives", "keepalives_idle", "keepalives_interval",
			       "keepalives_count", "dbname", "fallback_application_name",
			       "client_encoding", NULL };
	const char *vals[] = { "1", "60", "10", "6", conn->conninfo, "driftwatchd", "UTF8", NULL };

	db_close(conn);
	conn->err[0] = '\0';
	conn->connect_cb = cb;
	conn->connect_arg = arg;
	conn->pg = PQconnectStartParams(keys, vals, 1);
	if (!conn->pg || PQstatus(conn->pg) == CONNECTION_BAD) {
		db_set_error(conn, "could not start connecting to the database");
		db_close(conn);
		db_set_state(conn, DB_FAILED);
		conn->connect_cb = NULL;
		return -1;
	}
	db_set_state(conn, DB_CONNECTING);
	evtimer_assign(conn->ev_timeout, conn->base, db_on_connect_timeout, conn);
	evtimer_add(conn->ev_timeout, &tv);
	db_connect_wait(conn, PGRES_POLLING_WRITING);
	return 0;
}

/* ---- queries ---- */

static void db_pending_free(struct db_pending *p)
{
	for (int i = 0; p->values && i < p->nparams; i++)
		free(p->values[i]);
	free(p->values);
	free(p->name);
	free(p->sql);
	free(p);
}

static struct db_pending *db_queue_pop(struct db_conn *conn)
{
	struct db_pending *p = conn->queue_head;

	if (!p)
		return NULL;
	conn->queue_head = p->next;
	if (!conn->queue_head)
		conn->queue_tail = NULL;
	return p;
}

/* Every queued query hears that it will not run, so no caller waits for ever. */
static void db_queue_fail(struct db_conn *conn)
{
	struct db_pending *p;

	while ((p = db_queue_pop(conn)) != NULL) {
		p->cb(conn, NULL, p->arg);
		db_pending_free(p);
	}
}

static void db_queue_drop(struct db_conn *conn)
{
	struct db_pending *p;

	while ((p = db_queue_pop(conn)) != NULL)
		db_pending_free(p);
}

static int db_send_now(struct db_conn *conn, const struct db_req *rq);

static void db_queue_pump(struct db_conn *conn)
{
	struct db_pending *p;

	while (conn->state == DB_READY && (p = db_queue_pop(conn)) != NULL) {
		struct db_req rq = { p->kind, p->name, p->sql, p->nparams,
				     (const char *const *)p->values, p->cb, p->arg };

		if (db_send_now(conn, &rq) < 0)
			p->cb(conn, NULL, p->arg);
		db_pending_free(p);
	}
}

static int db_result_is(const PGresult *res, const char *sqlstate);
static void db_lost(struct db_conn *conn, const char *what);

/* A session keeps the role's and the database's settings of when it began: a statement_timeout
 * of 1 ms set with ALTER ROLE and then taken back still cancelled every statement of the
 * sessions made meanwhile, a claim every two seconds, until someone ended them (audit 18, F3).
 * A session cancelled so is renewed by its owner, with backoff; one younger than
 * DB_RENEW_AFTER_S is kept, so that while the setting is still in force a connection is
 * remade once a minute, not at every statement. */
#define DB_RENEW_AFTER_S 60

static int db_renew_now(struct db_conn *conn)
{
	conn->renew = 0;
	if (!conn->lost_cb || conn->state == DB_FAILED || !conn->pg ||
	    time(NULL) - conn->began < DB_RENEW_AFTER_S)
		return 0;
	db_lost(conn, "the server cancelled a statement (a statement_timeout that the role or the "
		      "database sets, or pg_cancel_backend): starting a new session, which takes "
		      "their settings as they are now");
	return 1;
}

static void db_query_finish(struct db_conn *conn, PGresult *res)
{
	db_result_cb cb = conn->result_cb;
	void *cb_arg = conn->result_arg;
	int read_only, cancelled;

	evtimer_del(conn->ev_timeout);
	conn->result_cb = NULL;
	conn->last = NULL;
	conn->sent_at = 0;
	conn->wait_note[0] = '\0';
	/* The callback may send the next query, so the connection is ready before it runs. */
	if (conn->state == DB_BUSY)
		db_set_state(conn, DB_READY);
	conn->kept = 0;
	read_only = res && db_result_is(res, "25006");
	cancelled = res && db_result_is(res, "57014") && conn->renew_on_cancel;
	cb(conn, res, cb_arg);
	if (res && !conn->kept)
		PQclear(res);
	conn->kept = 0;
	if ((cancelled || conn->renew) && db_renew_now(conn))
		return;
	/* A session keeps the database's and the role's settings of when it began: one made
	 * while the state database was read-only (ALTER DATABASE ... SET
	 * default_transaction_read_only) stayed so after it was writable again, and every write
	 * failed until someone ended the session (audit 18, F3). An owner that reconnects gets a
	 * new one, with backoff; the caller has had the error itself. */
	if (read_only && conn->lost_cb && conn->state != DB_FAILED && conn->pg) {
		db_lost(conn, "the server refused a write: this session is read-only "
			      "(default_transaction_read_only, or a standby); starting a new one");
		return;
	}
	if (conn->state == DB_FAILED)
		db_queue_fail(conn);
	else
		db_queue_pump(conn);
}

/* The owner hears of the loss once, after every waiting query has heard of it, so it can
 * schedule one reconnect instead of one per failed query. */
static void db_lost(struct db_conn *conn, const char *what)
{
	db_set_error(conn, what);
	log_debug(conn, "database: %s", conn->err);
	db_close(conn);
	db_set_state(conn, DB_FAILED);
	if (conn->result_cb)
		db_query_finish(conn, NULL);
	else
		db_queue_fail(conn);
	if (conn->lost_cb && conn->state == DB_FAILED)
		conn->lost_cb(conn, conn->lost_arg);
}

static void db_collect_results(struct db_conn *conn)
{
	PGresult *res;

	while (!PQisBusy(conn->pg)) {
		res = PQgetResult(conn->pg);
		if (!res) {
			db_query_finish(conn, conn->last);
			return;
		}
		/* Keep the last result: for one statement that is its rows or its error; a script
		 * stops at its first error, which is then the last result. */
		if (conn->last)
			PQclear(conn->last);
		conn->last = res;
	}
}

static void db_on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	PGnotify *n;

	(void)fd;
	(void)what;
	if (!PQconsumeInput(conn->pg)) {
		db_lost(conn, "lost the database connection");
		return;
	}
	/* Drained every time, listened for or not, so they cannot pile up in libpq. */
	while ((n = PQnotifies(conn->pg)) != NULL) {
		if (conn->notify_cb)
			conn->notify_cb(conn, n->relname, n->extra, conn->notify_arg);
		PQfreemem(n);
	}
	if (conn->state == DB_BUSY && conn->result_cb)
		db_collect_results(conn);
}

static void db_on_writable(evutil_socket_t fd, short what, void *arg);

static void db_flush(struct db_conn *conn)
{
	int r = PQflush(conn->pg);

	if (r < 0) {
		db_lost(conn, "could not send the query to the database");
		return;
	}
	if (r == 0)
		return;
	/* More to send: the server may be reading slowly, wait until the socket takes more. */
	if (!conn->ev_write)
		conn->ev_write = event_new(conn->base, PQsocket(conn->pg), EV_WRITE, db_on_writable,
					   conn);
	if (!conn->ev_write || event_add(conn->ev_write, NULL) < 0)
		db_lost(conn, "could not wait for the database socket");
}

static void db_on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_flush(arg);
}

static void db_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct db_conn *conn = arg;
	char what_msg[sizeof(conn->wait_note) + 128];

	(void)fd;
	(void)what;
	/* The server's statement_timeout should have ended the query already; getting here means
	 * the server or the network is not answering, or a lock no timeout bounds held the query
	 * (the state's statements have none): the connection cannot be trusted. Whom it waited
	 * for, when another session could see it, goes with the reason, or a reload's lock on
	 * the outbox reads as "database unreachable" (audit 18, F6). */
	if (conn->wait_note[0])
		snprintf(what_msg, sizeof(what_msg), "query did not finish within %d seconds (its "
			 "session: %s); dropping the connection", conn->timeout_s, conn->wait_note);
	else
		snprintf(what_msg, sizeof(what_msg), "query did not finish within %d seconds; "
			 "dropping the connection", conn->timeout_s);
	conn->err[0] = '\0';
	db_lost(conn, what_msg);
}

static int db_send_req(PGconn *pg, const struct db_req *rq)
{
	switch (rq->kind) {
	case DB_PARAMS:
		return PQsendQueryParams(pg, rq->sql, rq->nparams, NULL, rq->values, NULL, NULL, 0);
	case DB_SCRIPT:
		return PQsendQuery(pg, rq->sql);
	case DB_PREPARE:
		/* No types given: each parameter takes the type its first cast in sql names, as an
		 * unnamed statement's do, so both forms of a statement mean the same. */
		return PQsendPrepare(pg, rq->name, rq->sql, 0, NULL);
	case DB_PREPARED:
		return PQsendQueryPrepared(pg, rq->name, rq->nparams, rq->values, NULL, NULL, 0);
	}
	return 0;
}

static int db_send_now(struct db_conn *conn, const struct db_req *rq)
{
	struct timeval tv;

	if (!db_send_req(conn->pg, rq)) {
		db_set_error(conn, "could not send the query");
		return -1;
	}
	conn->result_cb = rq->cb;
	conn->result_arg = rq->arg;
	conn->sent_at = time(NULL);
	conn->sent++;
	conn->wait_note[0] = '\0';
	db_set_state(conn, DB_BUSY);
	if (conn->timeout_s > 0) {
		tv.tv_sec = conn->timeout_s;
		tv.tv_usec = 0;
		evtimer_assign(conn->ev_timeout, conn->base, db_on_timeout, conn);
		evtimer_add(conn->ev_timeout, &tv);
	}
	db_flush(conn);
	return 0;
}

static char *db_strdup_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int db_enqueue(struct db_conn *conn, const struct db_req *rq)
{
	struct db_pending *p = calloc(1, sizeof(*p));

	if (!p)
		goto oom;
	p->kind = rq->kind;
	p->nparams = rq->nparams;
	p->cb = rq->cb;
	p->arg = rq->arg;
	p->name = db_strdup_null(rq->name);
	p->sql = db_strdup_null(rq->sql);
	if ((rq->name && !p->name) || (rq->sql && !p->sql))
		goto oom;
	if (rq->nparams > 0) {
		p->values = calloc((size_t)rq->nparams, sizeof(*p->values));
		if (!p->values)
			goto oom;
		for (int i = 0; i < rq->nparams; i++) {
			p->values[i] = db_strdup_null(rq->values[i]);
			if (rq->values[i] && !p->values[i])
				goto oom;
		}
	}
	if (conn->queue_tail)
		conn->queue_tail->next = p;
	else
		conn->queue_head = p;
	conn->queue_tail = p;
	return 0;
oom:
	if (p)
		db_pending_free(p);
	snprintf(conn->err, sizeof(conn->err), "out of memory queueing a query");
	return -1;
}

static int db_submit(struct db_conn *conn, const struct db_req *rq)
{
	if (conn->state == DB_BUSY || (conn->state == DB_READY && conn->queue_head))
		return db_enqueue(conn, rq);
	if (conn->state != DB_READY) {
		snprintf(conn->err, sizeof(conn->err), "database connection is %s, not ready",
			 db_state_names[conn->state]);
		return -1;
	}
	return db_send_now(conn, rq);
}

int db_query(struct db_conn *conn, const char *sql, int nparams, const char *const *values,
	     db_result_cb cb, void *arg)
{
	struct db_req rq = { DB_PARAMS, NULL, sql, nparams < 0 ? 0 : nparams, values, cb, arg };

	return db_submit(conn, &rq);
}

int db_script(struct db_conn *conn, const char *sql, db_result_cb cb, void *arg)
{
	struct db_req rq = { DB_SCRIPT, NULL, sql, 0, NULL, cb, arg };

	return db_submit(conn, &rq);
}

int db_busy(const struct db_conn *conn)
{
	return conn->state == DB_BUSY || conn->queue_head != NULL;
}

void db_renew_on_cancel(struct db_conn *conn)
{
	conn->renew_on_cancel = 1;
}

void db_renew(struct db_conn *conn)
{
	conn->renew = 1;
}

time_t db_sent_at(const struct db_conn *conn, unsigned long *query)
{
	*query = conn->sent;
	return conn->state == DB_BUSY ? conn->sent_at : 0;
}

void db_note_wait(struct db_conn *conn, unsigned long query, const char *note)
{
	if (conn->state != DB_BUSY || conn->sent != query || !note)
		return;
	snprintf(conn->wait_note, sizeof(conn->wait_note), "%s", note);
}

unsigned long db_session(const struct db_conn *conn)
{
	return conn->session;
}

/* ---- prepared statements ---- */

/* The server's error code for "prepared statement ... does not exist". */
#define DB_SQLSTATE_NO_STATEMENT "26000"

static int db_result_is(const PGresult *res, const char *sqlstate)
{
	const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return code && strcmp(code, sqlstate) == 0;
}

int db_prepared(const struct db_conn *conn, const char *name, const char *sql)
{
	const struct db_stmt *st = conn->stmts;

	while (st && strcmp(st->name, name) != 0)
		st = st->next;
	return st && st->sql && strcmp(st->sql, sql) == 0;
}

/* A PREPARE in flight: the entry it adds on success is made before sending, so that success
 * can always be recorded (a statement the server has and this list lacks could never be
 * prepared again: the name would be taken). */
struct db_prep_call {
	struct db_stmt *stmt;
	db_result_cb cb;
	void *arg;
};

static void db_on_prepare(struct db_conn *conn, PGresult *res, void *arg)
{
	struct db_prep_call *call = arg;

	if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
		db_stmt_forget(conn, call->stmt->name);
		call->stmt->next = conn->stmts;
		conn->stmts = call->stmt;
		call->stmt = NULL;
	}
	call->cb(conn, res, call->arg);
	db_stmt_free(call->stmt);
	free(call);
}

/* The stale statement goes from the list once the server has dropped it (or never had it). */
static void db_on_deallocate(struct db_conn *conn, PGresult *res, void *arg)
{
	char *name = arg;

	if (res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
		    db_result_is(res, DB_SQLSTATE_NO_STATEMENT)))
		db_stmt_forget(conn, name);
	free(name);
}

/* A name taken in this session by another text (or by a statement whose execution failed) is
 * given back first: a reload may change the text behind a name, e.g. the case schema. */
static int db_deallocate(struct db_conn *conn, const char *name)
{
	struct db_req rq = { DB_PARAMS, NULL, NULL, 0, NULL, db_on_deallocate, NULL };
	char *ident = db_escape_identifier(conn, name);
	char *sql = ident ? strbuf_subst("DEALLOCATE @name@", "@name@", ident) : NULL;
	int rc = -1;

	rq.sql = sql;
	rq.arg = strdup(name);
	if (sql && rq.arg) {
		rc = db_submit(conn, &rq);
	} else {
		snprintf(conn->err, sizeof(conn->err), "out of memory preparing a statement");
	}
	if (rc < 0)
		free(rq.arg);
	free(ident);
	free(sql);
	return rc;
}

int db_prepare(struct db_conn *conn, const char *name, const char *sql, db_result_cb cb,
	       void *arg)
{
	struct db_prep_call *call;
	struct db_req rq = { DB_PREPARE, name, sql, 0, NULL, db_on_prepare, NULL };

	if (strlen(name) >= DB_STMT_NAME_MAX) {
		snprintf(conn->err, sizeof(conn->err), "statement name %s is too long", name);
		return -1;
	}
	if (*db_stmt_link(conn, name) && db_deallocate(conn, name) < 0)
		return -1;
	call = calloc(1, sizeof(*call));
	if (call)
		call->stmt = calloc(1, sizeof(*call->stmt));
	if (call && call->stmt) {
		call->stmt->name = strdup(name);
		call->stmt->sql = strdup(sql);
	}
	if (!call || !call->stmt || !call->stmt->name || !call->stmt->sql) {
		if (call)
			db_stmt_free(call->stmt);
		free(call);
		snprintf(conn->err, sizeof(conn->err), "out of memory preparing a statement");
		return -1;
	}
	call->cb = cb;
	call->arg = arg;
	rq.arg = call;
	if (db_submit(conn, &rq) < 0) {
		db_stmt_free(call->stmt);
		free(call);
		return -1;
	}
	return 0;
}

/* An execution in flight, so that its failure can mark the statement. */
struct db_exec_call {
	char *name;
	db_result_cb cb;
	void *arg;
};

/* An execution that failed may fail the same way every time ("cached plan must not change
 * result type" after a view changed, a statement dropped by a pooler's DISCARD): the statement
 * is prepared again before its next use instead. */
static void db_on_prepared_result(struct db_conn *conn, PGresult *res, void *arg)
{
	struct db_exec_call *call = arg;
	struct db_stmt *st;

	if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
		st = *db_stmt_link(conn, call->name);
		if (db_result_is(res, DB_SQLSTATE_NO_STATEMENT)) {
			db_stmt_forget(conn, call->name);
		} else if (st) {
			free(st->sql);
			st->sql = NULL;
		}
	}
	call->cb(conn, res, call->arg);
	free(call->name);
	free(call);
}

int db_query_prepared(struct db_conn *conn, const char *name, int nparams,
		      const char *const *values, db_result_cb cb, void *arg)
{
	struct db_exec_call *call = calloc(1, sizeof(*call));
	struct db_req rq = { DB_PREPARED, name, NULL, nparams < 0 ? 0 : nparams, values,
			     db_on_prepared_result, call };

	if (call)
		call->name = strdup(name);
	if (!call || !call->name) {
		free(call);
		snprintf(conn->err, sizeof(conn->err), "out of memory queueing a query");
		return -1;
	}
	call->cb = cb;
	call->arg = arg;
	if (db_submit(conn, &rq) < 0) {
		free(call->name);
		free(call);
		return -1;
	}
	return 0;
}
