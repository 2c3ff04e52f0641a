/* service: the long-running daemon: schedules evaluations, listens for changes, delivers, heals. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/errlist.h"
#include "driftwatch/eval.h"
#include "driftwatch/fdbudget.h"
#include "driftwatch/http.h"
#include "driftwatch/idset.h"
#include "driftwatch/leader.h"
#include "driftwatch/log.h"
#include "driftwatch/record.h"
#include "driftwatch/retention.h"
#include "driftwatch/sdnotify.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/state.h"
#include "driftwatch/strbuf.h"

/* A burst of NOTIFYs (one commit touching many rows) is gathered this long before evaluating. */
#define SERVICE_BATCH_MS 20
/* Past this many notified children an incremental evaluation costs as much as a full one; past
 * this many bytes of their ids a flood of NOTIFYs (any role that can connect may send them)
 * would cost memory: either way one full evaluation covers them all. */
#define SERVICE_MAX_INCREMENTAL 5000
#define SERVICE_MAX_PENDING_BYTES (256 * 1024)
/* A full evaluation asked for by NOTIFY waits this long after the last one began, so a storm of
 * NOTIFY driftwatch_all costs one evaluation every half minute, not one per message. */
#define SERVICE_NOTIFY_FULL_GAP_S 30
#define SERVICE_DELIVER_POLL_S 2
#define SERVICE_OUTBOX_METRICS_S 15
#define SERVICE_RECONNECT_MAX_S 30
#define SERVICE_LISTEN_TIMEOUT_S 30
/* A failed evaluation is tried again after this, doubling up to the maximum: a query that
 * fails at once (a broken view, a revoked grant) must not become a busy loop. */
#define SERVICE_EVAL_RETRY_MIN_S 1
#define SERVICE_EVAL_RETRY_MAX_S 60
/* SIGTERM must end the process within 10 s; deliveries get most of that, recording the
 * cancelled ones gets the rest, and the loop ends then whatever is still waiting. */
#define SERVICE_STOP_GRACE_S 7
#define SERVICE_STOP_RECORD_S 2
/* Retention runs soon after start, then hourly; a run cut short goes on soon after. */
#define SERVICE_PRUNE_FIRST_S 5
#define SERVICE_PRUNE_EVERY_S 3600

/* The evaluation reads the case data under a cursor while its alerts are recorded, a batch at
 * a time, on the state connection (which also migrates the schema). Bad rows are counted on a
 * connection of their own: at a million children the count takes longer than the rules
 * together, and no alert should wait for it. */
enum { CONN_STATE, CONN_EVAL, CONN_DELIVER, CONN_LISTEN, CONN_COUNT_BAD, CONN_COUNT };

static const char *const conn_names[] = { "state", "evaluation", "delivery", "notification",
					  "bad-row count" };

struct service;

/* A connection the service keeps alive: reconnected with backoff whenever it breaks. */
struct service_conn {
	struct service *svc;
	int which;
	struct db_conn *db;
	struct event *ev_retry;
	int delay_s;
	int attempts;       /* failed attempts since it was last up */
	int was_up;         /* it has been up at least once (a reconnect, not a first connect) */
	int listening;      /* CONN_LISTEN: LISTEN sent (1) and confirmed (2) on this session */
};

struct service {
	struct dw_ctx *ctx;
	const char *config_path;
	struct service_conn conns[CONN_COUNT];
	struct curl_loop *loop;
	struct deliver *deliver;
	struct http_server *http;
	struct sdnotify *sd;
	struct leader *leader;        /* whether this instance evaluates (several may run) */
	unsigned leader_changes;      /* times it started or stopped evaluating */
	unsigned eval_term;           /* leader_changes when the evaluation in flight began */
	struct idset pending;         /* notified children not yet evaluated */
	int migrated;
	int full_pending;
	int full_by_notify;           /* ... asked for by NOTIFY only: kept to the gap above */
	time_t last_full_start;       /* when the latest full evaluation began (0: none yet) */
	int evaluating;
	unsigned long warm_session;   /* CONN_EVAL session whose incremental plans are made */
	int count_pending;            /* a full evaluation was recorded: count bad rows again */
	int counting;                 /* a bad-row count is in flight on CONN_COUNT_BAD */
	char *bad_rows_last;          /* the last count as logged, to log only a change */
	int delivery_stopped;         /* stopping: the deliverer has ended every transfer */
	struct fdbudget budget;       /* HTTP connections and transfers the file limit allows */
	int stopping;                 /* 1 waiting for deliveries, 2 cancelled them, recording */
	time_t db_outage;             /* when the database was lost (0: every connection is up) */
	int db_outage_was_up;         /* the outage is a loss, not a first connect failing */
	int eval_retry_s;             /* the wait before retrying a failed evaluation; 0 = none */
	int deliver_stale;            /* the deliverer waits for the delivery connection */
	struct dw_config *reload;     /* a good new configuration waiting for a quiet moment */
	struct eval_request req;      /* the evaluation in flight */
	char **req_ids;
	size_t n_req_ids;
	struct record *rec;           /* its recording */
	struct eval_result *res;
	struct event *ev_interval, *ev_midnight, *ev_batch, *ev_eval_retry, *ev_deliver, *ev_outbox;
	struct event *ev_full_gap, *ev_prune;
	int pruning;                  /* retention_prune is running on CONN_STATE */
	struct event *ev_watchdog, *ev_stop, *ev_sigterm, *ev_sigint, *ev_sighup;
};

static void service_kick(struct service *svc);
static void service_want_full(struct service *svc);
static void service_count_kick(struct service *svc);
static void service_deliver_kick(struct service *svc);
static int service_deliver_open(struct service *svc);
static void service_conn_start(struct service_conn *sc);

static void service_status(struct service *svc, const char *fmt, const char *detail)
{
	char line[256];

	snprintf(line, sizeof(line), fmt, detail ? detail : "");
	sdnotify_status(svc->sd, "%s", line);
}

static void service_add_timer(struct event *ev, double seconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(ev, &tv);
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

/* ---- connections ---- */

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

/* Everyone is evaluated instead of the notified children; said once per request, not once per
 * message of a storm. */
/* Everyone is to be evaluated, for a reason other than NOTIFY: no gap to wait out. */
static void service_want_full(struct service *svc)
{
	svc->full_pending = 1;
	svc->full_by_notify = 0;
}

static void service_want_full_by_notify(struct service *svc, const char *why)
{
	if (svc->full_pending)
		return;
	log_info(svc->ctx, "%s: evaluating everyone", why);
	svc->full_pending = 1;
	svc->full_by_notify = 1;
	idset_clear(&svc->pending);
}

static void service_on_notify(struct db_conn *conn, const char *channel, const char *payload,
			      void *arg)
{
	struct service *svc = arg;
	char why[160];

	(void)conn;
	if (strcmp(channel, "driftwatch_all") == 0) {
		/* a TRUNCATE, or a child id too long to send: which children changed is not
		 * known. The payload is whatever a sender chose: log_write escapes it. */
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

static int service_all_up(const struct service *svc)
{
	for (int i = 0; i < CONN_COUNT; i++)
		if (!db_is_up(svc->conns[i].db))
			return 0;
	return 1;
}

/* An outage ends when every connection is back: one line and one reconnect for all three. */
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

static void service_on_conn_up(struct service_conn *sc)
{
	struct service *svc = sc->svc;
	int first = !sc->was_up;

	log_debug(svc->ctx, "database: %s connection up after %d failed attempt%s",
		  conn_names[sc->which], sc->attempts, sc->attempts == 1 ? "" : "s");
	sc->was_up = 1;
	sc->attempts = 0;
	sc->delay_s = 1;
	service_update_db_up(svc);
	service_outage_end(svc);
	if (sc->which == CONN_LISTEN) {
		sc->listening = 1;
		/* Whatever changed while nobody listened is found by a full evaluation, started
		 * once the LISTEN is in place (service_on_listening). */
		if (db_script(sc->db, "LISTEN driftwatch; LISTEN driftwatch_all", service_on_listening,
			      sc) < 0) {
			log_err(svc->ctx, "database: could not LISTEN: %s", db_error(sc->db));
			sc->listening = 0;
			service_want_full(svc);
		}
	}
	if (sc->which == CONN_EVAL && evtimer_pending(svc->ev_eval_retry, NULL)) {
		/* A fresh session: the failure being waited out was most likely the old one's. */
		evtimer_del(svc->ev_eval_retry);
		svc->eval_retry_s = 0;
	}
	if (sc->which == CONN_DELIVER && svc->deliver_stale && service_deliver_open(svc) < 0)
		log_err(svc->ctx, "delivery is off until the configuration is fixed");
	if (sc->which == CONN_DELIVER)
		service_deliver_kick(svc);
	if (sc->which == CONN_COUNT_BAD && first)
		contract_note_indexes(svc->ctx, sc->db); /* advice, once: a failure only goes unsaid */
	if (sc->which == CONN_COUNT_BAD)
		service_count_kick(svc);
	service_kick(svc);
}

static void service_conn_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_conn_start(arg);
}

static void service_conn_schedule(struct service_conn *sc, const char *why)
{
	struct service *svc = sc->svc;

	if (svc->stopping)
		return;
	if (sc->which == CONN_LISTEN)
		sc->listening = 0;
	/* Logged once per outage: the first connection to fail is news; the other two (a
	 * restarted server drops all three at once) and every retry are not. */
	if (!svc->db_outage) {
		svc->db_outage = time(NULL);
		svc->db_outage_was_up = sc->was_up;
		log_warn(svc->ctx, "database: %s connection %s: %s; reconnecting with backoff",
			 conn_names[sc->which], sc->was_up ? "lost" : "failed", why);
	} else {
		svc->db_outage_was_up |= sc->was_up;
		log_debug(svc->ctx, "database: %s connection attempt %d failed: %s",
			  conn_names[sc->which], sc->attempts + 1, why);
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
		/* evaluations wait for the listener's first attempt (service_kick) */
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

static int service_conns_open(struct service *svc)
{
	const struct dw_config *cfg = svc->ctx->cfg;

	for (int i = 0; i < CONN_COUNT; i++) {
		struct service_conn *sc = &svc->conns[i];

		sc->svc = svc;
		sc->which = i;
		sc->delay_s = 1;
		sc->attempts = 0;
		sc->listening = 0;
		sc->db = db_conn_new(svc->ctx->base, cfg->conninfo, svc->ctx->log_level);
		sc->ev_retry = evtimer_new(svc->ctx->base, service_conn_retry, sc);
		if (!sc->db || !sc->ev_retry)
			return -1;
		/* The listener's only query is LISTEN, and evaluations wait for its answer
		 * (service_kick), so a server that never answers it must not hold them long. */
		db_set_query_timeout(sc->db, i == CONN_LISTEN ? SERVICE_LISTEN_TIMEOUT_S
							       : cfg->query_timeout_s + 10);
		db_set_lost_cb(sc->db, service_on_lost, sc);
		if (i == CONN_LISTEN)
			db_set_notify_cb(sc->db, service_on_notify, svc);
	}
	for (int i = 0; i < CONN_COUNT; i++)
		service_conn_start(&svc->conns[i]);
	return 0;
}

static void service_conns_close(struct service *svc)
{
	for (int i = 0; i < CONN_COUNT; i++) {
		db_conn_free(svc->conns[i].db);
		if (svc->conns[i].ev_retry)
			event_free(svc->conns[i].ev_retry);
		svc->conns[i].db = NULL;
		svc->conns[i].ev_retry = NULL;
	}
}

/* ---- evaluation ---- */

/* Evaluations wait a pause that doubles while failures repeat, so a query that fails at once
 * costs a few statements a minute, not a busy loop. */
static void service_eval_retry_later(struct service *svc)
{
	svc->eval_retry_s = svc->eval_retry_s ? svc->eval_retry_s * 2 : SERVICE_EVAL_RETRY_MIN_S;
	if (svc->eval_retry_s > SERVICE_EVAL_RETRY_MAX_S)
		svc->eval_retry_s = SERVICE_EVAL_RETRY_MAX_S;
	log_info(svc->ctx, "evaluation: trying again in %d s", svc->eval_retry_s);
	service_add_timer(svc->ev_eval_retry, svc->eval_retry_s);
}

/* The work of a failed evaluation is not dropped: its children (or the full evaluation) wait
 * again for the next try. */
static void service_eval_failed(struct service *svc)
{
	if (!svc->req.child_ids) {
		service_want_full(svc);
	} else if (!svc->full_pending) {
		for (size_t i = 0; i < svc->n_req_ids; i++) {
			if (idset_add(&svc->pending, svc->req_ids[i]) < 0) {
				service_want_full(svc);
				idset_clear(&svc->pending);
				break;
			}
		}
	}
	service_eval_retry_later(svc);
}

static void service_eval_end(struct service *svc)
{
	idset_free_ids(svc->req_ids, svc->n_req_ids);
	svc->req_ids = NULL;
	svc->n_req_ids = 0;
	eval_result_free(svc->res);
	svc->res = NULL;
	svc->evaluating = 0;
	svc->ctx->metrics.eval_running_since = 0;
	if (svc->stopping)
		return;
	service_kick(svc);
}

static void service_metrics_eval(struct service *svc, const struct eval_result *res, int ok)
{
	struct dw_metrics *m = &svc->ctx->metrics;

	m->evaluations_total++;
	m->eval_seconds_sum += res->seconds;
	m->last_eval_seconds = res->seconds;
	m->last_eval_ok = ok;
	if (!ok) {
		m->evaluations_failed_total++;
		snprintf(m->last_eval_error, sizeof(m->last_eval_error), "%s",
			 res->error ? res->error : "recording failed");
		return;
	}
	m->last_eval_error[0] = '\0';
	m->last_good_eval = time(NULL);
	if (svc->req.child_ids) {
		m->incremental_total++;
		return;
	}
	/* Alerts describe the whole population, so only a full evaluation sets them. */
	for (size_t r = 0; r < RULE_REGISTRY_MAX; r++) {
		/* a rule that failed keeps the figures it had */
		if (res->rules[r].status != EVAL_RULE_OK)
			continue;
		for (size_t s = 0; s < RULE_MAX_STAGES; s++)
			m->alerts[r][s] = (long long)res->rules[r].by_stage[s];
	}
}

/* The last count of the whole population's children and bad rows. */
static void service_metrics_bad_rows(struct service *svc, const struct eval_result *res)
{
	struct dw_metrics *m = &svc->ctx->metrics;

	m->children_evaluated = res->children;
	m->n_bad = 0;
	for (size_t i = 0; i < res->n_bad && i < METRICS_MAX_BAD_KINDS; i++) {
		snprintf(m->bad[i].kind, sizeof(m->bad[i].kind), "%s", res->bad[i].kind);
		m->bad[i].count = res->bad[i].count;
		m->n_bad++;
	}
}

/* ---- bad rows ---- */

static char *service_bad_rows_text(const struct eval_result *res, long long *total)
{
	struct strbuf sb;

	*total = 0;
	strbuf_init(&sb);
	for (size_t i = 0; i < res->n_bad; i++) {
		*total += res->bad[i].count;
		strbuf_printf(&sb, " %s=%lld", res->bad[i].kind, res->bad[i].count);
	}
	return strbuf_take(&sb);
}

/* Real data keeps its bad rows for weeks; repeating the same counts every interval would
 * teach the reader to skip the line, so only a change is a notice. */
static void service_log_bad_rows(struct service *svc, const struct eval_result *res)
{
	long long total;
	char *text = service_bad_rows_text(res, &total);
	int same = text && svc->bad_rows_last && strcmp(text, svc->bad_rows_last) == 0;

	if (!text)
		return;
	log_write(svc->ctx->log_level, same ? LOG_PRIO_DEBUG : LOG_PRIO_NOTICE,
		  "bad rows as of %s: %lld left out of the rules among %lld children (counted in "
		  "%.2f s)%s%s", res->as_of, total, res->children, res->bad_rows_seconds,
		  total ? ":" : "", text);
	free(svc->bad_rows_last);
	svc->bad_rows_last = text;
}

static void service_on_counted(struct eval_result *res, void *arg)
{
	struct service *svc = arg;

	svc->counting = 0;
	if (svc->stopping) {
		eval_result_free(res);
		return;
	}
	if (res->error || res->bad_rows_error) {
		const char *why = res->error ? res->error : res->bad_rows_error;
		int same = svc->bad_rows_last && strcmp(svc->bad_rows_last, why) == 0;

		/* the same reason every interval is not news */
		log_write(svc->ctx->log_level, same ? LOG_PRIO_DEBUG : LOG_PRIO_WARNING,
			  "counting bad rows failed (counted again after the next full "
			  "evaluation): %s", why);
		free(svc->bad_rows_last);
		svc->bad_rows_last = strdup(why);
	} else {
		service_metrics_bad_rows(svc, res);
		service_log_bad_rows(svc, res);
	}
	eval_result_free(res);
}

/* After each recorded full evaluation, by the instance that evaluates; a count still running
 * when the next one is due is not doubled, it is simply followed by one more. */
static void service_count_kick(struct service *svc)
{
	struct db_conn *db = svc->conns[CONN_COUNT_BAD].db;
	struct eval_request req = { .skip_rules = 1 };

	if (svc->stopping || svc->counting || !svc->count_pending || svc->reload)
		return;
	if (!db || !db_is_up(db) || !leader_is_leading(svc->leader))
		return;
	svc->count_pending = 0;
	svc->counting = 1;
	if (eval_start(svc->ctx, db, &req, NULL, service_on_counted, svc) < 0) {
		svc->counting = 0;
		log_err(svc->ctx, "could not start counting bad rows: out of memory");
	}
}

static void service_on_midnight(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service *svc = arg;
	double s;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return;
	s = atof(PQgetvalue(res, 0, 0));
	evtimer_del(svc->ev_midnight);
	/* That midnight has passed already (the evaluation began the day before and ended after
	 * it): the new day is evaluated now, not at the next interval. */
	if (s <= 0) {
		service_want_full(svc);
		service_kick(svc);
		return;
	}
	/* A few seconds past midnight, so "today" has certainly turned over in the database. */
	service_add_timer(svc->ev_midnight, s + 5);
}

/* Thresholds are crossed by the calendar, not by data changes: evaluate just after the
 * midnight that ends the day just evaluated, in the configured zone (the database does the zone
 * arithmetic, DST included, and its clock decides what day it is). */
static void service_schedule_midnight(struct service *svc, const char *as_of)
{
	static const char sql[] =
		"SELECT extract(epoch FROM (($1::date + 1)::timestamp AT TIME ZONE $2) - now())";
	const char *params[2] = { as_of, svc->ctx->cfg->timezone };

	db_query(svc->conns[CONN_EVAL].db, sql, 2, params, service_on_midnight, svc);
}

/* Each rule's health, for /metrics and /healthz; a rule that starts failing or recovers is
 * logged once (the operators are told by record_end.sql, once across restarts). */
static void service_rules_health(struct service *svc, const struct eval_result *res)
{
	const struct dw_config *cfg = svc->ctx->cfg;
	struct dw_metrics *m = &svc->ctx->metrics;

	for (size_t i = 0; i < cfg->n_rules && i < RULE_REGISTRY_MAX; i++) {
		const struct eval_rule_result *rr = &res->rules[i];
		const char *name = cfg->rules[i].def->name;

		if (rr->status == EVAL_RULE_FAILED) {
			m->rule_failures_total[i]++;
			if (!m->rule_failing[i])
				log_warn(svc->ctx, "rule %s is failing (the other rules go on): %s",
					 name, rr->error ? rr->error : "?");
			m->rule_failing[i] = 1;
			snprintf(m->rule_error[i], sizeof(m->rule_error[i]), "%s",
				 rr->error ? rr->error : "failed");
		} else if (rr->status == EVAL_RULE_OK && m->rule_failing[i]) {
			log_notice(svc->ctx, "rule %s recovered", name);
			m->rule_failing[i] = 0;
			m->rule_error[i][0] = '\0';
		}
	}
	m->repaired_text_total += res->repaired_text;
}

static void service_on_recorded(int ok, const char *error, const struct record_changes *ch,
				void *arg)
{
	struct service *svc = arg;
	struct eval_result *res = svc->res;
	char status[256];

	svc->rec = NULL;
	if (svc->stopping || !res) {
		/* the connection was closed under it at shutdown: nothing to report */
		service_eval_end(svc);
		return;
	}
	if (!ok && !error) {
		/* rolled back on purpose: service_on_eval said why */
		service_eval_end(svc);
		return;
	}
	service_metrics_eval(svc, res, ok);
	if (!ok) {
		log_err(svc->ctx, "%s", error);
		service_status(svc, "evaluation failed: %s", error);
		service_eval_failed(svc);
		service_eval_end(svc);
		return;
	}
	service_rules_health(svc, res);
	/* Notified children whose rules did not all run are evaluated again after a pause: a
	 * lock held for a while must not lose their change until the next full evaluation. */
	if (res->n_rules_failed && svc->req.child_ids)
		service_eval_failed(svc);
	else
		svc->eval_retry_s = 0;
	log_info(svc->ctx, "evaluated %s as of %s: %zu alerts in %.2f s; %lld new, %lld escalated, "
		 "%lld updated, %lld resolved; %lld notices%s",
		 svc->req.child_ids ? "notified children" : "everyone", res->as_of, res->n_alerts,
		 res->seconds, ch->firing, ch->escalated, ch->updated, ch->resolved,
		 ch->email_notices + ch->webhook_notices,
		 res->n_rules_failed ? " (some rules failed: see above)" : "");
	snprintf(status, sizeof(status), "last evaluation %s: %lld children, %zu alerts, %.2f s%s",
		 res->as_of, svc->ctx->metrics.children_evaluated, res->n_alerts, res->seconds,
		 res->n_rules_failed ? ", some rules failing" : "");
	service_status(svc, "%s", status);
	if (!svc->req.child_ids) {
		service_schedule_midnight(svc, res->as_of);
		svc->count_pending = 1;
		service_count_kick(svc);
	}
	if (ch->email_notices + ch->webhook_notices + ch->reports > 0)
		service_deliver_kick(svc);
	service_eval_end(svc);
}

static void service_on_eval(struct eval_result *res, void *arg)
{
	struct service *svc = arg;
	int keep = !res->error && !svc->stopping;

	svc->res = res;
	/* At shutdown the state connection may be gone already (service_conns_close closes it
	 * first): what it held was rolled back by its closing, and nothing is sent on it. */
	if (!svc->conns[CONN_STATE].db) {
		record_cancel(svc->rec);
		svc->rec = NULL;
		service_eval_end(svc);
		return;
	}
	if (res->error && !svc->stopping) {
		log_err(svc->ctx, "evaluation failed: %s", res->error);
		service_metrics_eval(svc, res, 0);
		service_status(svc, "evaluation failed: %s", res->error);
		service_eval_failed(svc);
	}
	/* The lock went while this evaluation ran (its session broke), so another instance may
	 * have taken over and recorded a newer snapshot already: recording this older one could
	 * resolve an alert that one announced, to announce it again later. The work is not lost:
	 * whoever holds the lock now evaluates everyone when it takes it. */
	if (keep && (!leader_is_leading(svc->leader) || svc->eval_term != svc->leader_changes)) {
		log_warn(svc->ctx, "evaluation: the lock was lost while it ran; its result is not "
			 "recorded (the instance holding the lock evaluates everyone)");
		keep = 0;
	}
	record_finish(svc->rec, res, keep, service_on_recorded, svc);
}

static void service_on_migrated(int ok, const char *error, void *arg)
{
	struct service *svc = arg;

	svc->evaluating = 0;
	if (svc->stopping)
		return;
	if (!ok) {
		log_err(svc->ctx, "%s", error);
		service_eval_retry_later(svc);
		return;
	}
	svc->migrated = 1;
	service_kick(svc);
}

static void service_start_eval(struct service *svc)
{
	struct eval_sink sink;

	memset(&svc->req, 0, sizeof(svc->req));
	if (!svc->full_pending) {
		svc->req_ids = idset_take(&svc->pending, &svc->n_req_ids);
		if (!svc->req_ids)
			return;
		svc->req.child_ids = (const char *const *)svc->req_ids;
		svc->req.n_child_ids = svc->n_req_ids;
	} else {
		/* A full evaluation covers every notified child too. */
		idset_clear(&svc->pending);
		svc->req.skip_bad_rows = 1; /* counted apart: service_count_kick */
		svc->last_full_start = time(NULL);
	}
	svc->full_pending = 0;
	svc->full_by_notify = 0;
	svc->evaluating = 1;
	svc->ctx->metrics.eval_running_since = time(NULL);
	svc->eval_term = svc->leader_changes;
	svc->rec = record_new(svc->ctx, svc->conns[CONN_STATE].db, &svc->req);
	if (svc->rec)
		record_sink(svc->rec, &sink);
	if (!svc->rec ||
	    eval_start(svc->ctx, svc->conns[CONN_EVAL].db, &svc->req, &sink, service_on_eval,
		       svc) < 0) {
		record_cancel(svc->rec);
		svc->rec = NULL;
		log_err(svc->ctx, "could not start an evaluation: out of memory");
		service_want_full(svc);
		idset_free_ids(svc->req_ids, svc->n_req_ids);
		svc->req_ids = NULL;
		svc->n_req_ids = 0;
		svc->evaluating = 0;
		service_eval_retry_later(svc);
	}
}

static void service_apply_reload(struct service *svc);

static void service_on_warm(struct eval_result *res, void *arg)
{
	struct service *svc = arg;

	if (res->error)
		log_debug(svc->ctx, "evaluation: preparing the incremental statements failed (the "
			  "first notified child prepares them): %s", res->error);
	else
		log_debug(svc->ctx, "evaluation: the incremental statements are ready");
	eval_result_free(res);
	svc->evaluating = 0;
	if (!svc->stopping)
		service_kick(svc);
}

/* The first incremental evaluation of a session prepares and plans six statements: 0.1-0.5 s
 * at a million children. An evaluation of no child at all does that while nothing waits, so
 * the first child notified after a start or a reconnect is as quick as the rest. */
static void service_warm_up(struct service *svc)
{
	static const char *const none[1] = { NULL };
	struct eval_request req = { .child_ids = none, .n_child_ids = 0 };

	svc->warm_session = db_session(svc->conns[CONN_EVAL].db);
	svc->evaluating = 1;
	if (eval_start(svc->ctx, svc->conns[CONN_EVAL].db, &req, NULL, service_on_warm, svc) < 0)
		svc->evaluating = 0;
}

/* A full evaluation that only NOTIFY asked for waits out the gap after the last one began; the
 * gap timer kicks again when it ends. */
static int service_full_too_soon(struct service *svc)
{
	time_t since = time(NULL) - svc->last_full_start;

	if (!svc->full_by_notify || !svc->last_full_start || since >= SERVICE_NOTIFY_FULL_GAP_S)
		return 0;
	if (!evtimer_pending(svc->ev_full_gap, NULL))
		service_add_timer(svc->ev_full_gap, (double)(SERVICE_NOTIFY_FULL_GAP_S - since));
	return 1;
}

/* Runs whatever is due, one thing at a time on the evaluation connection. */
static void service_kick(struct service *svc)
{
	if (svc->stopping || svc->evaluating || svc->pruning)
		return;
	/* A bad-row count does not hold a reload: it reads the configuration only as it goes, and
	 * a connection closed under it ends it like any other query. Nor do deliveries: the
	 * deliverer takes the new settings in place. */
	if (svc->reload) {
		service_apply_reload(svc);
		return;
	}
	/* NULL while a reload replaces the connections: a callback run by the closing may kick */
	if (!svc->conns[CONN_EVAL].db || !db_is_up(svc->conns[CONN_EVAL].db) ||
	    !svc->conns[CONN_STATE].db || !db_is_up(svc->conns[CONN_STATE].db))
		return;
	/* waiting out a failure, or for the LISTEN whose reply asks for a full evaluation; at
	 * start also for the LISTEN connection's first attempt, or the first full evaluation would
	 * be followed at once by a second one, asked for by that LISTEN */
	if (evtimer_pending(svc->ev_eval_retry, NULL) || svc->conns[CONN_LISTEN].listening == 1)
		return;
	if (!svc->conns[CONN_LISTEN].was_up && svc->conns[CONN_LISTEN].attempts == 0)
		return;
	if (!svc->migrated) {
		svc->evaluating = 1;
		if (state_migrate(svc->ctx, svc->conns[CONN_STATE].db, service_on_migrated, svc) < 0) {
			svc->evaluating = 0;
			log_err(svc->ctx, "could not start the state migration");
		}
		return;
	}
	/* Another instance evaluates; this one only delivers. What it was told is that one's. */
	if (!leader_is_leading(svc->leader)) {
		idset_clear(&svc->pending);
		return;
	}
	if (svc->full_pending && service_full_too_soon(svc))
		return;
	if (svc->full_pending || svc->pending.n)
		service_start_eval(svc);
	else if (svc->warm_session != db_session(svc->conns[CONN_EVAL].db))
		service_warm_up(svc);
}

/* A new leader cannot know what changed while another led: it evaluates everyone. */
static void service_on_leader(int leading, void *arg)
{
	struct service *svc = arg;

	svc->leader_changes++;
	if (leading) {
		service_want_full(svc);
		service_kick(svc);
	}
}

static int service_leader_open(struct service *svc)
{
	svc->leader = leader_new(svc->ctx, service_on_leader, svc);
	return svc->leader ? 0 : -1;
}

/* ---- delivery ---- */

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

		if (strcmp(st, "delivered") == 0)
			o->delivered[ch] = n;
		else if (strcmp(st, "failed") == 0)
			o->failed[ch] = n;
		else
			o->pending[ch] += n;
		if (age > o->oldest_pending_age_s)
			o->oldest_pending_age_s = age;
	}
}

static void service_outbox_metrics(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct db_conn *db = svc->conns[CONN_DELIVER].db;
	char *sql;
	const char *fmt = "SELECT channel, status, count(*), coalesce(extract(epoch FROM now() - "
			  "min(created_at) FILTER (WHERE status IN ('pending', 'delivering'))), 0) "
			  "FROM %s.outbox GROUP BY 1, 2";
	char *ident;
	size_t len;

	(void)fd;
	(void)what;
	if (!db_is_up(db) || !svc->migrated)
		return;
	ident = db_escape_identifier(db, svc->ctx->cfg->state_schema);
	if (!ident)
		return;
	len = strlen(fmt) + strlen(ident);
	sql = malloc(len);
	if (sql) {
		snprintf(sql, len, fmt, ident);
		db_query(db, sql, 0, NULL, service_on_outbox_counts, svc);
	}
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

/* Recording committed new notices, the delivery connection came up, or the poll timer: the
 * deliverer claims what is due for every receiver with room, at once. */
static void service_deliver_kick(struct service *svc)
{
	if (svc->stopping || !svc->deliver || !svc->migrated)
		return;
	deliver_kick(svc->deliver);
}

static void service_on_deliver_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_deliver_kick(arg);
}

/* The deliverer escapes the state schema's name on the delivery connection, which needs a
 * session: while there is none (the database is down at start or at a reload) it is built
 * when the connection comes up, and the notices wait in the outbox meanwhile. */
static int service_deliver_open(struct service *svc)
{
	char err[512];

	if (!db_pgconn(svc->conns[CONN_DELIVER].db)) {
		svc->deliver_stale = 1;
		return 0;
	}
	svc->deliver_stale = 0;
	svc->deliver = deliver_new(svc->ctx, svc->conns[CONN_DELIVER].db, svc->loop, err,
				   sizeof(err));
	if (!svc->deliver) {
		log_err(svc->ctx, "delivery: %s", err);
		return -1;
	}
	return 0;
}

/* ---- timers and signals ---- */

static void service_on_full_timer(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	service_want_full(svc);
	service_kick(svc);
}

static void service_on_eval_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_kick(arg);
}

static void service_on_batch(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_kick(arg);
}

static void service_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	/* The loop turning is what the watchdog checks; a stuck loop never gets here. */
	sdnotify_watchdog(svc->sd);
}

static void service_on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	if (svc->stopping > 1) {
		/* The database did not take the results in time: those notices stay leased and go
		 * out when the lease ends, with the same idempotency key. */
		log_warn(svc->ctx, "stopping: delivery results not recorded within %d s; their "
			 "notices go out again when their lease ends", SERVICE_STOP_RECORD_S);
		event_base_loopbreak(svc->ctx->base);
		return;
	}
	log_warn(svc->ctx, "stopping: deliveries still running after %d s; cancelling them (they "
		 "stay in the outbox and go out at the next start)", SERVICE_STOP_GRACE_S);
	svc->stopping = 2;
	service_add_timer(svc->ev_stop, SERVICE_STOP_RECORD_S);
	/* Cancelled transfers report back into the deliverer, whose stop then ends the loop. */
	curl_loop_free(svc->loop);
	svc->loop = NULL;
	if (svc->delivery_stopped || !svc->deliver)
		event_base_loopbreak(svc->ctx->base);
}

static void service_stop(struct service *svc, const char *why)
{
	if (svc->stopping)
		return;
	svc->stopping = 1;
	log_notice(svc->ctx, "stopping (%s)", why);
	sdnotify_stopping(svc->sd);
	http_stop(svc->http);
	svc->http = NULL;
	evtimer_del(svc->ev_interval);
	evtimer_del(svc->ev_midnight);
	evtimer_del(svc->ev_batch);
	evtimer_del(svc->ev_full_gap);
	evtimer_del(svc->ev_prune);
	evtimer_del(svc->ev_eval_retry);
	evtimer_del(svc->ev_deliver);
	evtimer_del(svc->ev_outbox);
	if (!svc->deliver) {
		event_base_loopbreak(svc->ctx->base);
		return;
	}
	/* Notices claimed and not started go back to the outbox; running transfers get the
	 * grace period (the callback may end the loop at once, when none runs). */
	service_add_timer(svc->ev_stop, SERVICE_STOP_GRACE_S);
	deliver_stop(svc->deliver, service_on_delivery_stopped, svc);
}

static void service_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct service *svc = arg;
	struct errlist errs = { 0 };
	struct dw_config *cfg;

	(void)what;
	if (sig != SIGHUP) {
		service_stop(svc, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return;
	}
	sdnotify_reloading(svc->sd);
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || config_load(svc->config_path, cfg, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err(svc->ctx, "reload: %s", errs.msgs[i]);
		log_err(svc->ctx, "reload: %s is not usable; keeping the configuration in use",
			svc->config_path);
		errlist_free(&errs);
		if (cfg)
			config_free(cfg);
		free(cfg);
		sdnotify_ready(svc->sd);
		return;
	}
	errlist_free(&errs);
	if (svc->reload) {
		config_free(svc->reload);
		free(svc->reload);
	}
	svc->reload = cfg;
	log_notice(svc->ctx, "reload: %s is good; applying it once the evaluation in progress (if "
		   "any) ends; deliveries do not hold it", svc->config_path);
	service_kick(svc);
}

static void service_interval_arm(struct service *svc)
{
	struct timeval tv = { svc->ctx->cfg->eval_interval_s, 0 };

	evtimer_del(svc->ev_interval);
	event_assign(svc->ev_interval, svc->ctx->base, -1, EV_PERSIST, service_on_full_timer, svc);
	evtimer_add(svc->ev_interval, &tv);
}

static int service_http_open(struct service *svc)
{
	char err[512];

	if (!svc->ctx->cfg->http_listen)
		return 0;
	if (http_start(svc->ctx, svc->ctx->cfg->http_listen, svc->budget.http_connections,
		       &svc->http, err, sizeof(err)) < 0) {
		log_err(svc->ctx, "http: %s", err);
		return -1;
	}
	return 0;
}

/* The deliverer takes the new configuration in place, its transfers running on: the settings
 * they need are copied into them. Another database or state schema means another outbox: the
 * old deliverer is retired (its transfers end unrecorded, their notices leased until the lease
 * ends) and a new one made. */
static void service_reload_delivery(struct service *svc, int reconnect, int relead)
{
	char err[512];

	if (svc->deliver && !relead) {
		if (deliver_reload(svc->deliver, err, sizeof(err)) < 0)
			log_err(svc->ctx, "reload: delivery keeps the webhook secrets and mail "
				"settings it had: %s", err);
		return;
	}
	deliver_free(svc->deliver);
	svc->deliver = NULL;
	/* a new connection makes its deliverer when it is up */
	if (!reconnect && service_deliver_open(svc) < 0)
		log_err(svc->ctx, "reload: delivery is off until the configuration is fixed");
}

/* Swapped in only when nothing is evaluating: evaluation reads the configuration as it goes.
 * Deliveries never hold it. */
static void service_apply_reload(struct service *svc)
{
	struct dw_config *old = svc->ctx->cfg;
	struct dw_config *cfg = svc->reload;
	int reconnect = strcmp(old->conninfo, cfg->conninfo) != 0;
	int relead = reconnect || strcmp(old->state_schema, cfg->state_schema) != 0;
	int rehttp = (old->http_listen == NULL) != (cfg->http_listen == NULL) ||
		     (old->http_listen && strcmp(old->http_listen, cfg->http_listen) != 0);

	svc->reload = NULL;
	svc->ctx->cfg = cfg;
	svc->ctx->metrics.stall_s = cfg->stall_s;
	service_reload_delivery(svc, reconnect, relead);
	/* The bound on a hung query follows the new query_timeout_seconds at once. */
	if (!reconnect)
		for (int i = 0; i < CONN_COUNT; i++)
			if (i != CONN_LISTEN)
				db_set_query_timeout(svc->conns[i].db, cfg->query_timeout_s + 10);
	if (rehttp) {
		http_stop(svc->http);
		svc->http = NULL;
		service_http_open(svc);
	}
	service_interval_arm(svc);
	/* The lock lives on the old database under the old schema's name: take the new one. */
	if (relead) {
		leader_free(svc->leader);
		if (service_leader_open(svc) < 0)
			log_err(svc->ctx, "reload: out of memory for the leader election");
	}
	config_free(old);
	free(old);
	log_notice(svc->ctx, "reload: configuration applied");
	sdnotify_ready(svc->sd);
	if (reconnect) {
		service_conns_close(svc);
		svc->migrated = 0;
		if (service_conns_open(svc) < 0)
			log_err(svc->ctx, "reload: out of memory opening connections");
		else
			service_deliver_open(svc);
	}
	service_want_full(svc);
	service_kick(svc);
}

static void service_on_pruned(long long notices, long long evaluations, const char *error,
			      void *arg)
{
	struct service *svc = arg;
	int cut_short = !error && (notices >= (long long)RETENTION_BATCH * RETENTION_MAX_BATCHES ||
				   evaluations >= (long long)RETENTION_BATCH * RETENTION_MAX_BATCHES);

	svc->pruning = 0;
	if (svc->stopping)
		return;
	service_kick(svc);
	if (error)
		log_info(svc->ctx, "retention: pruning stopped (tried again later): %s", error);
	else if (notices || evaluations)
		log_info(svc->ctx, "retention: pruned %lld delivered notices and %lld evaluations "
			 "older than %d days", notices, evaluations, svc->ctx->cfg->retention_days);
	service_add_timer(svc->ev_prune, error || cut_short ? SERVICE_PRUNE_FIRST_S
							    : SERVICE_PRUNE_EVERY_S);
}

/* Only the instance that evaluates prunes, on the state connection between its other work. */
static void service_on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct db_conn *db = svc->conns[CONN_STATE].db;

	(void)fd;
	(void)what;
	if (svc->stopping)
		return;
	/* The state connection carries the recording's transaction while an evaluation runs:
	 * pruning's own transactions wait for a quiet moment, and evaluations for it. */
	if (!svc->migrated || !db || !db_is_up(db) || !leader_is_leading(svc->leader) ||
	    svc->pruning || svc->evaluating) {
		service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
		return;
	}
	svc->pruning = 1;
	if (retention_prune(svc->ctx, db, service_on_pruned, svc) < 0) {
		svc->pruning = 0;
		service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
	}
}

static int service_events_new(struct service *svc)
{
	struct event_base *base = svc->ctx->base;

	svc->ev_interval = event_new(base, -1, EV_PERSIST, service_on_full_timer, svc);
	svc->ev_midnight = evtimer_new(base, service_on_full_timer, svc);
	svc->ev_batch = evtimer_new(base, service_on_batch, svc);
	svc->ev_full_gap = evtimer_new(base, service_on_batch, svc);
	svc->ev_prune = evtimer_new(base, service_on_prune, svc);
	svc->ev_eval_retry = evtimer_new(base, service_on_eval_retry, svc);
	svc->ev_deliver = event_new(base, -1, EV_PERSIST, service_on_deliver_timer, svc);
	svc->ev_outbox = event_new(base, -1, EV_PERSIST, service_outbox_metrics, svc);
	svc->ev_watchdog = event_new(base, -1, EV_PERSIST, service_on_watchdog, svc);
	svc->ev_stop = evtimer_new(base, service_on_stop_deadline, svc);
	svc->ev_sigterm = evsignal_new(base, SIGTERM, service_on_signal, svc);
	svc->ev_sigint = evsignal_new(base, SIGINT, service_on_signal, svc);
	svc->ev_sighup = evsignal_new(base, SIGHUP, service_on_signal, svc);
	return svc->ev_interval && svc->ev_midnight && svc->ev_batch && svc->ev_full_gap &&
	       svc->ev_prune &&
	       svc->ev_eval_retry &&
	       svc->ev_deliver && svc->ev_outbox && svc->ev_watchdog && svc->ev_stop &&
	       svc->ev_sigterm && svc->ev_sigint && svc->ev_sighup ? 0 : -1;
}

static void service_events_free(struct service *svc)
{
	struct event *evs[] = { svc->ev_interval, svc->ev_midnight, svc->ev_batch, svc->ev_full_gap,
				svc->ev_prune,
				svc->ev_eval_retry, svc->ev_deliver, svc->ev_outbox,
				svc->ev_watchdog, svc->ev_stop, svc->ev_sigterm, svc->ev_sigint,
				svc->ev_sighup };

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
}

static void service_timers_arm(struct service *svc)
{
	struct timeval poll = { SERVICE_DELIVER_POLL_S, 0 };
	struct timeval outbox = { SERVICE_OUTBOX_METRICS_S, 0 };
	unsigned long long wd = sdnotify_watchdog_interval_usec();

	service_interval_arm(svc);
	service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
	evtimer_add(svc->ev_deliver, &poll);
	evtimer_add(svc->ev_outbox, &outbox);
	evsignal_add(svc->ev_sigterm, NULL);
	evsignal_add(svc->ev_sigint, NULL);
	evsignal_add(svc->ev_sighup, NULL);
	if (wd) {
		/* Half the interval, as sd_watchdog_enabled(3) advises. */
		struct timeval tv = { (time_t)(wd / 2000000ULL), (suseconds_t)((wd / 2) % 1000000ULL) };

		evtimer_add(svc->ev_watchdog, &tv);
	}
}

/* HTTP connections and transfers are sized from the open-file limit, so that neither can take
 * the descriptors the database connections and the other need (a flood of idle connections
 * to http.listen once left none for SMTP or the webhooks). */
static void service_budget(struct service *svc)
{
	char err[256];

	if (fdbudget_plan(&svc->budget, err, sizeof(err)) < 0)
		log_warn(svc->ctx, "file descriptors: %s", err);
	log_info(svc->ctx, "file descriptors: limit %lu: up to %u HTTP connections and %u "
		 "transfers at once", svc->budget.limit, svc->budget.http_connections,
		 svc->budget.transfers);
}

int cmd_run(struct dw_ctx *ctx, const char *config_path)
{
	struct service svc;
	char sderr[256] = "";
	int status = 0;

	memset(&svc, 0, sizeof(svc));
	svc.ctx = ctx;
	svc.config_path = config_path;
	svc.full_pending = 1;
	idset_init(&svc.pending);
	ctx->metrics.started = time(NULL);
	ctx->metrics.stall_s = ctx->cfg->stall_s;
	svc.sd = sdnotify_open(sderr, sizeof(sderr));
	if (!svc.sd && sderr[0])
		log_warn(ctx, "systemd notification is off: %s", sderr);
	service_budget(&svc);
	svc.loop = curl_loop_new(ctx->base, svc.budget.transfers);
	if (!svc.loop || service_events_new(&svc) < 0 || service_conns_open(&svc) < 0 ||
	    service_leader_open(&svc) < 0) {
		log_err(ctx, "could not start: out of memory");
		status = 1;
		goto out;
	}
	if (service_deliver_open(&svc) < 0 || service_http_open(&svc) < 0) {
		status = 2;
		goto out;
	}
	service_timers_arm(&svc);
	log_notice(ctx, "driftwatchd %s started: evaluating every %d s and after midnight (%s)",
		   DW_VERSION, ctx->cfg->eval_interval_s, ctx->cfg->timezone);
	if (!ctx->cfg->email.enabled)
		log_notice(ctx, "email is off (no \"email\" section): alerts go to the webhooks "
			   "only");
	sdnotify_ready(svc.sd);
	event_base_dispatch(ctx->base);
	log_notice(ctx, "stopped");
out:
	svc.stopping = 1;
	/* Order matters: cancelled transfers report into the deliverer, and closing the
	 * connections tells every waiting query's owner (evaluation, recording, deliverer). */
	curl_loop_free(svc.loop);
	http_stop(svc.http);
	service_conns_close(&svc);
	leader_free(svc.leader);
	deliver_free(svc.deliver);
	eval_result_free(svc.res);
	idset_free_ids(svc.req_ids, svc.n_req_ids);
	idset_clear(&svc.pending);
	free(svc.bad_rows_last);
	if (svc.reload) {
		config_free(svc.reload);
		free(svc.reload);
	}
	service_events_free(&svc);
	sdnotify_close(svc.sd);
	return status;
}
