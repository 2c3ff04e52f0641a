/* leader: one evaluating daemon among several, chosen by a session advisory lock. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "driftwatch/advlock.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/leader.h"
#include "driftwatch/log.h"

struct leader {
	struct dw_ctx *ctx;
	struct db_conn *db;
	struct event *ev_tick;
	leader_change_cb cb;
	void *arg;
	int leading;
	int busy;          /* a query or connection attempt is in flight */
	int logged_wait;   /* "another instance evaluates" said once */
};

/* The lock is named for the state schema: instances sharing one state share one leader. */
static const char leader_try_sql[] =
	"SELECT pg_try_advisory_lock(" ADVLOCK_LEADER_KEY ")";

static void leader_set(struct leader *l, int leading)
{
	if (l->leading == leading)
		return;
	l->leading = leading;
	if (leading) {
		log_notice(l->ctx, "leader: this instance now evaluates (advisory lock taken)");
		l->logged_wait = 0;
	} else {
		log_warn(l->ctx, "leader: this instance no longer evaluates");
	}
	l->cb(leading, l->arg);
}

static void leader_on_try(struct db_conn *conn, PGresult *res, void *arg)
{
	struct leader *l = arg;

	(void)conn;
	l->busy = 0;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return;
	if (PQgetvalue(res, 0, 0)[0] == 't') {
		l->ctx->metrics.standby = 0;
		leader_set(l, 1);
		return;
	}
	l->ctx->metrics.standby = 1;
	if (!l->logged_wait)
		log_info(l->ctx, "leader: another instance evaluates; this one delivers and waits "
			 "(checking every %d s)", l->ctx->cfg->takeover_s);
	l->logged_wait = 1;
}

static void leader_on_session_limit(struct db_conn *conn, PGresult *res, void *arg)
{
	struct leader *l = arg;
	const char *params[1] = { l->ctx->cfg->state_schema };

	if (!res && !db_is_up(conn)) {
		l->busy = 0;
		return;
	}
	if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug(l->ctx, "leader: could not limit the session's idle time: %s",
			  PQresultErrorMessage(res));
	if (db_query(conn, leader_try_sql, 1, params, leader_on_try, l) < 0)
		l->busy = 0;
}

/* The lock lives as long as the server keeps the session. A session this daemon lost without a
 * word from the network (a stall, a firewall) stayed on the server, idle, holding the lock
 * until the server's TCP keepalive gave up, two hours by default: this instance, reconnected,
 * found the lock "held by another instance" and evaluated nothing, /healthz saying ok: standby
 * (audit 18). The session asks something every evaluation.takeover_seconds, so the server may
 * end it once it has been idle three times that: the lock is free again within a minute or so.
 * (idle_session_timeout is PostgreSQL 14's: an older server keeps the old way.) */
static void leader_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct leader *l = arg;
	char limit[32];
	const char *params[1] = { limit };

	l->busy = 0;
	if (!ok) {
		log_debug(l->ctx, "leader: cannot connect: %s", db_error(conn));
		return;
	}
	snprintf(limit, sizeof(limit), "%ds", 3 * l->ctx->cfg->takeover_s + 10);
	l->busy = 1;
	if (db_query(conn, "SELECT set_config('idle_session_timeout', $1, false) "
		     "WHERE current_setting('server_version_num')::int >= 140000", 1, params,
		     leader_on_session_limit, l) < 0)
		l->busy = 0;
}

/* The session that held the lock is gone, and the lock with it: stop evaluating now, before
 * another instance that takes it over starts. */
static void leader_on_lost(struct db_conn *conn, void *arg)
{
	struct leader *l = arg;

	(void)conn;
	leader_set(l, 0);
}

static void leader_tick(evutil_socket_t fd, short what, void *arg)
{
	struct leader *l = arg;
	const char *params[1] = { l->ctx->cfg->state_schema };

	(void)fd;
	(void)what;
	if (l->busy)
		return;
	if (!db_is_up(l->db)) {
		l->busy = 1;
		if (db_connect(l->db, leader_on_connect, l) < 0)
			l->busy = 0;
		return;
	}
	/* Leading: a cheap query proves the session (and so the lock) is still there. */
	l->busy = 1;
	if (db_query(l->db, l->leading ? "SELECT true" : leader_try_sql, l->leading ? 0 : 1,
		     params, leader_on_try, l) < 0)
		l->busy = 0;
}

struct leader *leader_new(struct dw_ctx *ctx, leader_change_cb cb, void *arg)
{
	struct leader *l = calloc(1, sizeof(*l));
	struct timeval tv;

	if (!l)
		return NULL;
	l->ctx = ctx;
	l->cb = cb;
	l->arg = arg;
	/* with the state: the lock guards writing it (state.conninfo) */
	l->db = db_conn_new(ctx->base, config_state_conninfo(ctx->cfg), ctx->log_level);
	l->ev_tick = event_new(ctx->base, -1, EV_PERSIST, leader_tick, l);
	if (!l->db || !l->ev_tick) {
		leader_free(l);
		return NULL;
	}
	db_set_query_timeout(l->db, ctx->cfg->takeover_s + 10);
	db_set_lost_cb(l->db, leader_on_lost, l);
	/* a try cancelled by the role's statement_timeout would never take the lock in this
	 * session, even once the setting is taken back: a new session goes without it */
	db_renew_on_cancel(l->db);
	tv.tv_sec = ctx->cfg->takeover_s;
	tv.tv_usec = 0;
	evtimer_add(l->ev_tick, &tv);
	leader_tick(-1, 0, l);
	return l;
}

void leader_free(struct leader *l)
{
	if (!l)
		return;
	if (l->ev_tick)
		event_free(l->ev_tick);
	/* Closing the session releases the lock for the next instance at once. */
	db_conn_free(l->db);
	free(l);
}

int leader_is_leading(const struct leader *l)
{
	return l && l->leading;
}
