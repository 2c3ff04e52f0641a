/* service_conns: the daemon's six database connections, kept alive with backoff, and LISTEN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/grants.h"
#include "driftwatch/log.h"
#include "driftwatch/service.h"

static const char *const service_conn_names[] = { "state", "evaluation", "delivery",
						  "notification", "bad-row count",
						  "email delivery" };

const char *service_conn_name(enum service_conn_id which)
{
	return (unsigned)which < CONN_COUNT ? service_conn_names[which] : "?";
}

static void service_conn_start(struct service_conn *sc);

static int service_conn_on_state(enum service_conn_id which)
{
	return which == CONN_STATE || which == CONN_DELIVER || which == CONN_MAIL;
}

/* The state and the outbox may be in another database (state.conninfo) than the case data,
 * which may then be a hot standby: evaluation, LISTEN and the bad-row count read the case data. */
static const char *service_conn_conninfo(const struct dw_config *cfg, enum service_conn_id which)
{
	return service_conn_on_state(which) ? config_state_conninfo(cfg) : cfg->conninfo;
}

static void service_update_db_up(struct service *svc)
{
	struct dw_metrics *m = &svc->ctx->metrics;
	int up = 1;

	for (int i = 0; i < CONN_COUNT; i++)
		up &= db_is_up(svc->conns[i].db);
	m->db_up = up;
	if (up)
		m->db_error[0] = '\0';
}

/* With the state in a database of its own, which key a failing connection comes from. */
static const char *service_conn_key(const struct dw_config *cfg, enum service_conn_id which)
{
	if (!cfg->state_conninfo)
		return "";
	return service_conn_on_state(which) ? " (state.conninfo)" : " (database.conninfo)";
}

/* ---- notifications ---- */

/* The full evaluation that covers what changed while nobody listened starts only now: one
 * whose snapshot were older than the LISTEN could miss a change committed in between. */
static void service_on_listening(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service_conn *sc = arg;
	struct service *svc = sc->svc;

	sc->listening = res && PQresultStatus(res) == PGRES_COMMAND_OK ? 2 : 0;
	if (!res && !db_is_up(conn)) {
		/* Lost again: the next session listens and evaluates; work held for this
		 * LISTEN's reply goes ahead meanwhile. */
		service_kick(svc);
		return;
	}
	if (sc->listening != 2)
		log_err(svc->ctx, "database: LISTEN driftwatch failed (changes are found by "
			"polling only): %s", res ? PQresultErrorMessage(res) : db_error(conn));
	service_want_full(svc);
	service_kick(svc);
}

/* Said when it changes, not on every reconnect: "a hot standby" once, "promoted" once. Asked
 * when the listener's session starts (listening 1: evaluations wait for the answer), and again
 * at each poll while the case database is a standby (listening 2): a promotion keeps the
 * sessions, and is then noticed at the next poll. */
static void service_on_recovery(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service_conn *sc = arg;
	struct service *svc = sc->svc;
	int answered = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	int standby = answered && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	int poll = sc->listening == 2;

	svc->standby_asking = 0;
	if (poll && (!answered || standby)) {
		/* still a standby, or no answer: asked again at the next poll (a lost session
		 * reconnects and asks as a new one) */
		if (!answered && res)
			log_debug(svc->ctx, "database: is the case database still a standby? %s",
				  PQresultErrorMessage(res));
		return;
	}
	if (!res && !db_is_up(conn)) {
		service_on_listening(conn, res, arg);
		return;
	}
	if (standby && !svc->case_standby)
		log_notice(svc->ctx, "database: the case database (database.conninfo) is a hot "
			   "standby: it sends no notifications, so changes are found by polling "
			   "every %d s (evaluation.interval_seconds)", svc->ctx->cfg->eval_interval_s);
	else if (!standby && svc->case_standby)
		log_notice(svc->ctx, "database: the case database (database.conninfo) is no longer "
			   "in recovery (promoted): listening for notifications again");
	svc->case_standby = standby;
	if (standby) {
		sc->listening = 2; /* answered: there is nothing to wait for */
		service_want_full(svc);
		service_kick(svc);
		return;
	}
	if (db_script(conn, "LISTEN driftwatch; LISTEN driftwatch_all", service_on_listening,
		      sc) < 0) {
		log_err(svc->ctx, "database: could not LISTEN: %s", db_error(conn));
		sc->listening = 0;
		service_want_full(svc);
		service_kick(svc);
	}
}

static int service_ask_recovery(struct service_conn *sc)
{
	int rc = db_query(sc->db, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL,
			  service_on_recovery, sc);

	sc->svc->standby_asking = rc == 0;
	return rc;
}

void service_check_standby(struct service *svc)
{
	struct service_conn *sc = &svc->conns[CONN_LISTEN];

	if (!svc->case_standby || svc->standby_asking || sc->listening != 2 || !sc->db ||
	    !db_is_up(sc->db))
		return;
	if (service_ask_recovery(sc) < 0)
		log_debug(svc->ctx, "database: could not ask whether the case database is still a "
			  "standby: %s", db_error(sc->db));
}

static void service_on_listen_pong(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service_conn *sc = arg;

	/* no answer in time: the db layer has dropped the session, and service_on_lost
	 * reconnects, listens again and evaluates everyone */
	if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
		log_debug(sc->svc->ctx, "database: the listener's check failed: %s",
			  PQresultErrorMessage(res));
	(void)conn;
}

/* The listener only waits, for hours: a session that a firewall or NAT dropped without a word
 * (no reset reaches the daemon) was never noticed, /healthz said ok, and every change waited
 * for the next poll for the life of the process (audit 18). A statement every
 * evaluation.takeover_seconds, under the listener's query timeout, proves the session. A hot standby's listener is asked at each
 * poll already (service_check_standby). */
static void service_on_listen_ping(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct service_conn *sc = &svc->conns[CONN_LISTEN];

	(void)fd;
	(void)what;
	if (sc->listening != 2 || svc->case_standby || !sc->db || !db_is_up(sc->db) ||
	    db_busy(sc->db))
		return;
	/* LISTEN again, which changes nothing: the session's last statement still says what it
	 * is to whoever reads pg_stat_activity */
	if (db_script(sc->db, "LISTEN driftwatch", service_on_listen_pong, sc) < 0)
		log_debug(svc->ctx, "database: could not check the listener: %s", db_error(sc->db));
}

/* NOTIFY is unauthenticated input (any role that can connect may send it): a storm, a flood
 * of ids or control characters in a payload cost one full evaluation at most. */
void service_on_notify(struct db_conn *conn, const char *channel, const char *payload,
		       void *arg)
{
	struct service *svc = arg;
	char why[160];

	(void)conn;
	if (strcmp(channel, "driftwatch_all") == 0) {
		/* a TRUNCATE, a change to teams or workers, or a child id too long to send: which
		 * children changed is not known. The payload is whatever a sender chose: log_write
		 * escapes it. */
		snprintf(why, sizeof(why), "notified of a change to every child (%.60s)",
			 payload && *payload ? payload : "?");
		service_want_full_by_notify(svc, why);
	} else if (strcmp(channel, "driftwatch") != 0 || !payload || !*payload ||
		   svc->full_pending) {
		return;
	} else if (svc->pending.n >= SERVICE_MAX_INCREMENTAL ||
		   svc->pending.bytes + strlen(payload) + 1 > SERVICE_MAX_PENDING_BYTES) {
		snprintf(why, sizeof(why), "more than %d children (or %d KB of their ids) changed "
			 "at once", SERVICE_MAX_INCREMENTAL, SERVICE_MAX_PENDING_BYTES / 1024);
		service_want_full_by_notify(svc, why);
	} else if (idset_add(&svc->pending, payload) < 0) {
		service_want_full_by_notify(svc, "out of memory for notified children");
	}
	if (!evtimer_pending(svc->ev_batch, NULL))
		service_add_timer(svc->ev_batch, SERVICE_BATCH_MS / 1000.0);
}

/* ---- outages ---- */

static int service_all_up(const struct service *svc)
{
	for (int i = 0; i < CONN_COUNT; i++)
		if (!db_is_up(svc->conns[i].db))
			return 0;
	return 1;
}

/* An outage ends when every connection is back: one line for all of them. */
static void service_outage_end(struct service *svc)
{
	long secs = (long)(time(NULL) - svc->db_outage);

	if (!svc->db_outage || !service_all_up(svc))
		return;
	if (svc->db_outage_was_up) {
		log_notice(svc->ctx, "database: connections restored after %ld s", secs);
		svc->ctx->metrics.db_reconnects_total++;
	} else {
		log_notice(svc->ctx, "database: connected after %ld s", secs);
	}
	svc->db_outage = 0;
	svc->db_outage_was_up = 0;
}

static void service_on_empty_checked(void *arg)
{
	struct service *svc = arg;

	svc->empty_checking = 0;
	service_count_kick(svc);
}

/* The advice on the case schema, on the counting connection. The count waits for the
 * emptiness checks: one queued behind its BEGIN would run, and could fail, inside it. */
void service_note_contract(struct service *svc)
{
	struct db_conn *db = svc->conns[CONN_COUNT_BAD].db;

	if (!db || !db_is_up(db) || svc->empty_checking)
		return;
	contract_note_indexes(svc->ctx, db);
	svc->empty_checking = 1;
	if (contract_note_empty(svc->ctx, db, &svc->rls_said, service_on_empty_checked, svc) < 0)
		svc->empty_checking = 0;
}

/* What each connection's arrival starts. */
static void service_on_conn_up(struct service_conn *sc)
{
	struct service *svc = sc->svc;
	int first = !sc->was_up;

	log_debug(svc->ctx, "database: %s connection up after %d failed attempt%s",
		  service_conn_name(sc->which), sc->attempts, sc->attempts == 1 ? "" : "s");
	sc->was_up = 1;
	sc->attempts = 0;
	sc->delay_s = 1;
	service_update_db_up(svc);
	service_outage_end(svc);
	switch (sc->which) {
	case CONN_LISTEN:
		sc->listening = 1;
		/* A hot standby takes LISTEN but never delivers a NOTIFY (NOTIFY is not replicated
		 * and no trigger fires there): asked first, on each session, as a promotion ends
		 * it. Whatever changed while nobody listened is found by a full evaluation, started
		 * once the LISTEN is in place or known useless (service_on_recovery). */
		if (service_ask_recovery(sc) < 0) {
			log_err(svc->ctx, "database: could not LISTEN: %s", db_error(sc->db));
			sc->listening = 0;
			service_want_full(svc);
		}
		break;
	case CONN_EVAL:
		/* A fresh session: the failure being waited out was most likely the old one's. */
		if (evtimer_pending(svc->ev_eval_retry, NULL)) {
			evtimer_del(svc->ev_eval_retry);
			svc->eval_retry_s = 0;
		}
		break;
	case CONN_DELIVER:
		if (svc->deliver_stale && service_deliver_open(svc) < 0)
			log_err(svc->ctx, "delivery is off until the configuration is fixed");
		service_deliver_kick(svc);
		break;
	case CONN_MAIL:
		service_deliver_kick(svc);
		break;
	case CONN_COUNT_BAD:
		if (first) { /* advice, once: a failure only goes unsaid */
			service_note_contract(svc);
			grants_note_excess(svc->ctx, sc->db, "database.conninfo");
		}
		service_count_kick(svc);
		break;
	default:
		break;
	}
	service_kick(svc);
}

static void service_conn_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_conn_start(arg);
}

/* Whether why is new in this outage; it is then kept (the first SERVICE_OUTAGE_WHYS), so that
 * connections failing in turn for two reasons do not say them over and over. */
static int service_outage_said(struct service *svc, const char *why)
{
	if (!why || !why[0])
		return 0;
	for (int i = 0; i < SERVICE_OUTAGE_WHYS; i++) {
		char *slot = svc->db_outage_why[i];

		if (strncmp(slot, why, sizeof(svc->db_outage_why[i]) - 1) == 0 && slot[0])
			return 0;
		if (!slot[0]) {
			snprintf(slot, sizeof(svc->db_outage_why[i]), "%s", why);
			return 1;
		}
	}
	return 0;
}

static void service_conn_schedule(struct service_conn *sc, const char *why)
{
	struct service *svc = sc->svc;

	if (service_stopping(svc))
		return;
	if (sc->which == CONN_LISTEN)
		sc->listening = 0;
	/* Logged once per outage: the first connection to fail is news; the others (a restarted
	 * server drops them all at once) and every retry are not. */
	if (!svc->db_outage) {
		svc->db_outage = time(NULL);
		svc->db_outage_was_up = sc->was_up;
		memset(svc->db_outage_why, 0, sizeof(svc->db_outage_why));
		service_outage_said(svc, why);
		log_warn(svc->ctx, "database: %s connection%s %s: %s; reconnecting with backoff",
			 service_conn_name(sc->which), service_conn_key(svc->ctx->cfg, sc->which),
			 sc->was_up ? "lost" : "failed", why);
	} else if (service_outage_said(svc, why)) {
		/* a new reason is news: the loss was said, but not that the role may no longer
		 * log in, or the server is full (audit 18, F4) */
		svc->db_outage_was_up |= sc->was_up;
		log_warn(svc->ctx, "database: %s connection%s attempt %d failed: %s; still "
			 "reconnecting with backoff", service_conn_name(sc->which),
			 service_conn_key(svc->ctx->cfg, sc->which), sc->attempts + 1, why);
	} else {
		svc->db_outage_was_up |= sc->was_up;
		log_debug(svc->ctx, "database: %s connection attempt %d failed: %s",
			  service_conn_name(sc->which), sc->attempts + 1, why);
	}
	snprintf(svc->ctx->metrics.db_error, sizeof(svc->ctx->metrics.db_error), "%s", why);
	svc->ctx->metrics.db_up = 0;
	sc->attempts++;
	service_add_timer(sc->ev_retry, sc->delay_s);
	sc->delay_s = sc->delay_s * 2 > SERVICE_RECONNECT_MAX_S ? SERVICE_RECONNECT_MAX_S
								 : sc->delay_s * 2;
}

static void service_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct service_conn *sc = arg;

	if (!ok) {
		service_conn_schedule(sc, db_error(conn));
		/* evaluations wait for the listener's first attempt (schedule.h) */
		if (sc->which == CONN_LISTEN)
			service_kick(sc->svc);
		return;
	}
	service_on_conn_up(sc);
}

static void service_on_lost(struct db_conn *conn, void *arg)
{
	struct service_conn *sc = arg;

	service_update_db_up(sc->svc);
	service_conn_schedule(sc, db_error(conn));
}

static void service_conn_start(struct service_conn *sc)
{
	if (db_connect(sc->db, service_on_connect, sc) < 0)
		service_conn_schedule(sc, db_error(sc->db));
}

int service_conns_open(struct service *svc)
{
	const struct dw_config *cfg = svc->ctx->cfg;

	for (int i = 0; i < CONN_COUNT; i++) {
		struct service_conn *sc = &svc->conns[i];

		sc->svc = svc;
		sc->which = (enum service_conn_id)i;
		sc->delay_s = 1;
		sc->attempts = 0;
		sc->was_up = 0;
		sc->listening = 0;
		sc->db = db_conn_new(svc->ctx->base, service_conn_conninfo(cfg, sc->which),
				     svc->ctx->log_level);
		sc->ev_retry = evtimer_new(svc->ctx->base, service_conn_retry, sc);
		if (!sc->db || !sc->ev_retry)
			return -1;
		/* The listener's only query is LISTEN, and evaluations wait for its answer
		 * (schedule.h), so a server that never answers it must not hold them long. */
		db_set_query_timeout(sc->db, i == CONN_LISTEN ? SERVICE_LISTEN_TIMEOUT_S
							       : cfg->query_timeout_s + 10);
		db_set_lost_cb(sc->db, service_on_lost, sc);
		/* the state's statements set no statement_timeout of their own: a cancel is the
		 * role's or the database's, and a new session takes theirs as they are now */
		if (i == CONN_STATE || i == CONN_DELIVER || i == CONN_MAIL)
			db_renew_on_cancel(sc->db);
		if (i == CONN_LISTEN)
			db_set_notify_cb(sc->db, service_on_notify, svc);
	}
	svc->ev_listen_ping = event_new(svc->ctx->base, -1, EV_PERSIST, service_on_listen_ping,
					svc);
	if (!svc->ev_listen_ping)
		return -1;
	/* as often as the leader's session proves itself (leader.c): a lost session of either
	 * is noticed within that and a query timeout */
	service_add_timer(svc->ev_listen_ping, cfg->takeover_s);
	for (int i = 0; i < CONN_COUNT; i++)
		service_conn_start(&svc->conns[i]);
	return 0;
}

void service_conns_close(struct service *svc)
{
	if (svc->ev_listen_ping)
		event_free(svc->ev_listen_ping);
	svc->ev_listen_ping = NULL;
	/* CONN_STATE is first in the enum, so it closes first (service.h) */
	for (int i = 0; i < CONN_COUNT; i++) {
		db_conn_free(svc->conns[i].db);
		if (svc->conns[i].ev_retry)
			event_free(svc->conns[i].ev_retry);
		svc->conns[i].db = NULL;
		svc->conns[i].ev_retry = NULL;
	}
}
