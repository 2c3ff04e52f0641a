/* service_delivery: the daemon's deliverer: made, kicked, reloaded, stopped; outbox figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/log.h"
#include "driftwatch/service.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

static void service_on_outbox_counts(struct db_conn *conn, PGresult *res, void *arg)
{
	struct metrics_outbox *o = &((struct service *)arg)->ctx->metrics.outbox;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		return;
	memset(o, 0, sizeof(*o));
	for (int r = 0; r < PQntuples(res); r++) {
		int ch = strcmp(PQgetvalue(res, r, 0), "webhook") == 0;
		const char *st = PQgetvalue(res, r, 1);
		long long n = atoll(PQgetvalue(res, r, 2));
		double age = atof(PQgetvalue(res, r, 3));
		long long due = atoll(PQgetvalue(res, r, 4));

		if (strcmp(st, "delivered") == 0)
			o->delivered[ch] = n;
		else if (strcmp(st, "failed") == 0)
			o->failed[ch] = n;
		else
			o->pending[ch] += n;
		o->due[ch] += due;
		if (age > o->oldest_pending_age_s)
			o->oldest_pending_age_s = age;
	}
}

void service_outbox_metrics(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct db_conn *db = svc->conns[CONN_DELIVER].db;
	char *ident, *sql;

	(void)fd;
	(void)what;
	if (!db_is_up(db) || !svc->migrated)
		return;
	ident = db_escape_identifier(db, svc->ctx->cfg->state_schema);
	sql = ident ? strbuf_subst(sql_outbox_counts, "@state@", ident) : NULL;
	if (sql)
		db_query(db, sql, 0, NULL, service_on_outbox_counts, svc);
	free(sql);
	free(ident);
}

/* Stopping: every transfer has ended and its result is recorded (or could not be). */
static void service_on_delivery_stopped(const struct deliver_stats *st, const char *error,
					void *arg)
{
	struct service *svc = arg;

	(void)st;
	if (error)
		log_err(svc->ctx, "delivery: %s", error);
	svc->delivery_stopped = 1;
	event_base_loopbreak(svc->ctx->base);
}

/* Notices claimed and not started go back to the outbox; running transfers get the grace
 * period (the callback may end the loop at once, when none runs). */
void service_deliver_stop(struct service *svc)
{
	deliver_stop(svc->deliver, service_on_delivery_stopped, svc);
}

/* Recording committed new notices, the delivery connection came up, or the poll timer: the
 * deliverer claims what is due for every receiver with room, at once. */
void service_deliver_kick(struct service *svc)
{
	if (service_stopping(svc) || !svc->deliver || !svc->migrated)
		return;
	deliver_kick(svc->deliver);
}

void service_on_deliver_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_deliver_kick(arg);
}

/* The deliverer escapes the state schema's name on the delivery connection, which needs a
 * session: while there is none (the database is down at start or at a reload) it is built
 * when the connection comes up, and the notices wait in the outbox meanwhile. */
int service_deliver_open(struct service *svc)
{
	char err[512];

	if (!db_pgconn(svc->conns[CONN_DELIVER].db)) {
		svc->deliver_stale = 1;
		return 0;
	}
	svc->deliver_stale = 0;
	svc->deliver = deliver_new(svc->ctx, svc->conns[CONN_DELIVER].db,
				   svc->conns[CONN_MAIL].db, svc->loop, err, sizeof(err));
	if (!svc->deliver) {
		log_err(svc->ctx, "delivery: %s", err);
		return -1;
	}
	return 0;
}

/* The deliverer takes the new configuration in place, its transfers running on: the settings
 * they need are copied into them. Another database or state schema means another outbox, on
 * new connections: the old deliverer is retired (its transfers end unrecorded, their notices
 * leased until the lease ends). */
void service_reload_delivery(struct service *svc, int reconnect)
{
	char err[512];

	if (svc->deliver && !reconnect) {
		if (deliver_reload(svc->deliver, err, sizeof(err)) < 0)
			log_err(svc->ctx, "reload: delivery keeps the webhook secrets and mail "
				"settings it had: %s", err);
		return;
	}
	deliver_free(svc->deliver);
	svc->deliver = NULL;
	/* none was running (it could not be made): the same connections try again; a new
	 * connection makes its deliverer when it is up */
	if (!reconnect && service_deliver_open(svc) < 0)
		log_err(svc->ctx, "reload: delivery is off until the configuration is fixed");
}
