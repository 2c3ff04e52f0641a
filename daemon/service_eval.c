/* service_eval: the daemon's evaluations, their recording, the bad-row count and the figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/leader.h"
#include "driftwatch/log.h"
#include "driftwatch/record.h"
#include "driftwatch/schedule.h"
#include "driftwatch/service.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/state.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/unanswered.h"

/* ---- failures ---- */

/* Evaluations wait a pause that doubles while failures repeat, so a query that fails at once
 * costs a few statements a minute, not a busy loop. */
void service_eval_retry_later(struct service *svc)
{
	svc->eval_retry_s = schedule_backoff(svc->eval_retry_s, SERVICE_EVAL_RETRY_MIN_S,
					     SERVICE_EVAL_RETRY_MAX_S);
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
	service_set_activity(svc, SERVICE_IDLE);
	if (service_stopping(svc))
		return;
	service_kick(svc);
}

/* ---- figures ---- */

/* "every rule failed: rule_a, rule_b (...)" into out when every rule that ran failed (each is
 * also failing on its own, reported and counted per rule, and /healthz gives each one's
 * reason); 0 when one did not. */
static int service_all_failed(const struct dw_config *cfg, const struct eval_result *res,
			      char *out, size_t cap)
{
	const char *sep = ": ";
	size_t ran = 0, len;

	for (size_t i = 0; i < cfg->n_rules && i < RULE_REGISTRY_MAX; i++)
		ran += res->rules[i].status != EVAL_RULE_DISABLED;
	if (ran == 0 || res->n_rules_failed < ran)
		return 0;
	len = (size_t)snprintf(out, cap, "every rule failed");
	for (size_t i = 0; i < cfg->n_rules && i < RULE_REGISTRY_MAX && len < cap; i++) {
		if (res->rules[i].status != EVAL_RULE_FAILED)
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s%s", sep, cfg->rules[i].def->name);
		sep = ", ";
	}
	if (len < cap)
		snprintf(out + len, cap - len, " (each rule's reason below)");
	return 1;
}

static void service_metrics_eval(struct service *svc, const struct eval_result *res, int ok)
{
	struct dw_metrics *m = &svc->ctx->metrics;
	char every[sizeof(m->last_eval_error)];
	/* nothing alerts when every rule fails: down, not degraded, though recorded */
	int all_failed = ok && service_all_failed(svc->ctx->cfg, res, every, sizeof(every));

	m->evaluations_total++;
	m->eval_seconds_sum += res->seconds;
	m->last_eval_seconds = res->seconds;
	m->last_eval_ok = ok && !all_failed;
	if (!ok || all_failed) {
		m->evaluations_failed_total++;
		snprintf(m->last_eval_error, sizeof(m->last_eval_error), "%s",
			 all_failed ? every : res->error ? res->error : "recording failed");
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
		/* a rule that failed keeps the figures it had; one turned off holds none */
		if (res->rules[r].status == EVAL_RULE_FAILED)
			continue;
		for (size_t s = 0; s < RULE_MAX_STAGES; s++)
			m->alerts[r][s] = res->rules[r].status == EVAL_RULE_OK
					  ? (long long)res->rules[r].by_stage[s] : 0;
	}
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
			/* a new cause is said too: /healthz shows it, and the log must not keep
			 * only the first (audit 12) */
			else if (strncmp(m->rule_error[i], rr->error ? rr->error : "failed",
					 sizeof(m->rule_error[i]) - 1) != 0)
				log_warn(svc->ctx, "rule %s is still failing, now: %s", name,
					 rr->error ? rr->error : "?");
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

/* "last evaluation D: N children, ..." once children were counted; before the first count
 * ends (just after a start), without the number rather than "0 children". */
static void service_status_eval(struct service *svc)
{
	long long children = svc->ctx->metrics.children_evaluated;
	char text[256];

	if (!svc->status_eval[0])
		return;
	if (children > 0)
		snprintf(text, sizeof(text), "last evaluation %s: %lld children, %s",
			 svc->status_as_of, children, svc->status_eval);
	else
		snprintf(text, sizeof(text), "last evaluation %s: %s", svc->status_as_of,
			 svc->status_eval);
	service_status(svc, "%s", text);
}

/* ---- the bad-row count ---- */

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

/* Real data keeps its bad rows for weeks; repeating the same counts (or the same reason they
 * could not be counted) every interval would teach the reader to skip the line, so only a
 * change is a notice. */
static void service_log_bad_rows(struct service *svc, const struct eval_result *res)
{
	const char *why = res->error ? res->error : res->bad_rows_error;
	long long total = 0;
	char *text = why ? strdup(why) : service_bad_rows_text(res, &total);
	int same = text && svc->bad_rows_last && strcmp(text, svc->bad_rows_last) == 0;
	int prio = same ? LOG_PRIO_DEBUG : why ? LOG_PRIO_WARNING : LOG_PRIO_NOTICE;

	if (!text)
		return;
	if (why)
		log_write(svc->ctx->log_level, prio, "counting bad rows failed (counted again "
			  "after the next full evaluation): %s", why);
	else
		log_write(svc->ctx->log_level, prio, "bad rows as of %s: %lld left out of the "
			  "rules among %lld children (counted in %.2f s%s%s)%s%s", res->as_of, total,
			  res->children, res->bad_rows_seconds,
			  res->bad_rows_uncounted ? "; not counted in " : "",
			  res->bad_rows_uncounted ? res->bad_rows_uncounted : "", total ? ":" : "",
			  text);
	free(svc->bad_rows_last);
	svc->bad_rows_last = text;
}

static void service_on_rls(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service *svc = arg;
	char *now = contract_rls_text(res);

	(void)conn;
	svc->empty_checking = 0;
	if (now) {
		contract_rls_changed(svc->ctx, svc->rls_said, now);
		free(svc->rls_said);
		svc->rls_said = now;
	}
	service_count_kick(svc);
}

/* Row-level security asked again after each count, on the counting connection while it is
 * idle (the count waits, as for the emptiness checks): a policy switched on while the daemon
 * runs is said once, within an evaluation of when it began hiding children. */
static void service_watch_rls(struct service *svc)
{
	struct db_conn *db = svc->conns[CONN_COUNT_BAD].db;

	if (service_stopping(svc) || svc->empty_checking || !db || !db_is_up(db))
		return;
	svc->empty_checking = 1;
	if (contract_ask_rls(svc->ctx, db, service_on_rls, svc) < 0)
		svc->empty_checking = 0;
}

static void service_on_counted(struct eval_result *res, void *arg)
{
	struct service *svc = arg;

	svc->count = SERVICE_COUNT_IDLE;
	if (!service_stopping(svc)) {
		/* a count that ends after the lock went is the new leader's to report */
		if (!res->error && !res->bad_rows_error && leader_is_leading(svc->leader)) {
			service_metrics_bad_rows(svc, res);
			service_status_eval(svc);
		}
		service_log_bad_rows(svc, res);
	}
	eval_result_free(res);
	service_watch_rls(svc);
}

/* After each recorded full evaluation, by the instance that evaluates; a count still running
 * when the next one is due is not doubled, it is simply followed by one more. */
void service_count_kick(struct service *svc)
{
	struct db_conn *db = svc->conns[CONN_COUNT_BAD].db;
	struct eval_request req = { .skip_rules = 1 };

	if (service_stopping(svc) || svc->count != SERVICE_COUNT_IDLE || !svc->count_pending ||
	    svc->reload || svc->empty_checking)
		return;
	if (!db || !db_is_up(db) || !leader_is_leading(svc->leader))
		return;
	svc->count_pending = 0;
	svc->count = SERVICE_COUNT_RUNNING;
	if (eval_start(svc->ctx, db, &req, NULL, service_on_counted, svc) < 0) {
		svc->count = SERVICE_COUNT_IDLE;
		log_err(svc->ctx, "could not start counting bad rows: out of memory");
	}
}

/* ---- midnight ---- */

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
	const char *params[2] = { as_of, svc->ctx->cfg->timezone };

	db_query(svc->conns[CONN_EVAL].db, sql_midnight, 2, params, service_on_midnight, svc);
}

/* ---- an evaluation and its recording ---- */

static void service_report_recorded(struct service *svc, const struct eval_result *res,
				    const struct record_changes *ch)
{
	log_info(svc->ctx, "evaluated %s as of %s: %zu alerts in %.2f s; %lld new, %lld escalated, "
		 "%lld updated, %lld resolved; %lld notices%s",
		 svc->req.child_ids ? "notified children" : "everyone", res->as_of, res->n_alerts,
		 res->seconds, ch->firing, ch->escalated, ch->updated, ch->resolved,
		 ch->email_notices + ch->webhook_notices,
		 res->n_rules_failed ? " (some rules failed: see above)" : "");
	snprintf(svc->status_as_of, sizeof(svc->status_as_of), "%s", res->as_of);
	snprintf(svc->status_eval, sizeof(svc->status_eval), "%zu alerts, %.2f s%s", res->n_alerts,
		 res->seconds, res->n_rules_failed ? ", some rules failing" : "");
	service_status_eval(svc);
}

/* The evaluation stays recorded when escalation fails: the next full one escalates what this
 * one could not (a stage is due at the first evaluation on or after its day). */
static void service_on_unanswered(int ok, const char *error, const struct unanswered_stats *st,
				  void *arg)
{
	struct service *svc = arg;

	if (!ok && !service_stopping(svc))
		log_err(svc->ctx, "%s", error);
	for (size_t i = 0; ok && i < RULE_REGISTRY_MAX; i++)
		for (size_t j = 0; j < RULE_MAX_STAGES; j++)
			svc->ctx->metrics.unanswered_total[i][j] += (unsigned long long)st->by_stage[i][j];
	if (ok && st->unanswered)
		log_notice(svc->ctx, "unanswered: %lld stage%s escalated (%lld email, %lld webhook "
			   "notices)", st->unanswered, st->unanswered == 1 ? "" : "s",
			   st->email_notices, st->webhook_notices);
	if (((ok && st->email_notices + st->webhook_notices > 0) ||
	     svc->deliver_after_unanswered) && !service_stopping(svc))
		service_deliver_kick(svc);
	svc->deliver_after_unanswered = 0;
	service_eval_end(svc);
}

static void service_on_recorded(int ok, const char *error, const struct record_changes *ch,
				void *arg)
{
	struct service *svc = arg;
	struct eval_result *res = svc->res;

	svc->rec = NULL;
	/* At shutdown the connection was closed under it; rolled back on purpose, service_on_eval
	 * said why: nothing to report either way. */
	if (service_stopping(svc) || !res || (!ok && !error)) {
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
	service_report_recorded(svc, res, ch);
	if (!svc->req.child_ids) {
		service_schedule_midnight(svc, res->as_of);
		svc->count_pending = 1;
		service_count_kick(svc);
	}
	svc->deliver_after_unanswered = 0;
	if (ch->email_notices + ch->webhook_notices + ch->reports > 0) {
		if (svc->req.child_ids)
			service_deliver_kick(svc);
		else
			svc->deliver_after_unanswered = 1;
	}
	/* Escalation follows a full evaluation only (a partial one does not know which alerts
	 * still fire), on the state connection, which stays this evaluation's until it ends. */
	if (!svc->req.child_ids &&
	    unanswered_run(svc->ctx, svc->conns[CONN_STATE].db,
			   svc->ctx->cfg->state_conninfo ? svc->conns[CONN_EVAL].db : NULL,
			   res->as_of, 1, ch->digest_key, service_on_unanswered, svc) == 0)
		return;
	if (!svc->req.child_ids)
		log_err(svc->ctx, "escalating unanswered alerts: could not start: %s",
			db_error(svc->conns[CONN_STATE].db));
	if (svc->deliver_after_unanswered)
		service_deliver_kick(svc);
	svc->deliver_after_unanswered = 0;
	service_eval_end(svc);
}

static void service_on_eval(struct eval_result *res, void *arg)
{
	struct service *svc = arg;
	int keep = !res->error && !service_stopping(svc);

	svc->res = res;
	/* At shutdown the state connection may be gone already (service_conns_close closes it
	 * first): what it held was rolled back by its closing, and nothing is sent on it. */
	if (!svc->conns[CONN_STATE].db) {
		record_cancel(svc->rec);
		svc->rec = NULL;
		service_eval_end(svc);
		return;
	}
	if (res->error && !service_stopping(svc)) {
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

/* The notified children, or everyone (which covers them). */
static int service_take_request(struct service *svc)
{
	memset(&svc->req, 0, sizeof(svc->req));
	if (!svc->full_pending) {
		svc->req_ids = idset_take(&svc->pending, &svc->n_req_ids);
		if (!svc->req_ids)
			return -1;
		svc->req.child_ids = (const char *const *)svc->req_ids;
		svc->req.n_child_ids = svc->n_req_ids;
	} else {
		idset_clear(&svc->pending);
		svc->req.skip_bad_rows = 1; /* counted apart: service_count_kick */
		svc->last_full_start = time(NULL);
	}
	svc->full_pending = 0;
	svc->full_by_notify = 0;
	return 0;
}

void service_start_eval(struct service *svc)
{
	struct eval_sink sink;

	if (service_take_request(svc) < 0)
		return;
	service_set_activity(svc, SERVICE_EVALUATING);
	svc->eval_term = svc->leader_changes;
	svc->rec = record_new(svc->ctx, svc->conns[CONN_STATE].db, &svc->req, 1);
	if (svc->rec)
		record_sink(svc->rec, &sink);
	if (svc->rec && eval_start(svc->ctx, svc->conns[CONN_EVAL].db, &svc->req, &sink,
				   service_on_eval, svc) == 0)
		return;
	record_cancel(svc->rec);
	svc->rec = NULL;
	log_err(svc->ctx, "could not start an evaluation: out of memory");
	service_want_full(svc);
	idset_free_ids(svc->req_ids, svc->n_req_ids);
	svc->req_ids = NULL;
	svc->n_req_ids = 0;
	service_set_activity(svc, SERVICE_IDLE);
	service_eval_retry_later(svc);
}

/* ---- migration and warming up ---- */

static void service_on_migrated(int ok, const char *error, void *arg)
{
	struct service *svc = arg;

	service_set_activity(svc, SERVICE_IDLE);
	if (service_stopping(svc))
		return;
	if (!ok) {
		log_err(svc->ctx, "%s", error);
		service_eval_retry_later(svc);
		return;
	}
	svc->migrated = 1;
	service_kick(svc);
}

void service_start_migration(struct service *svc)
{
	service_set_activity(svc, SERVICE_MIGRATING);
	if (state_migrate(svc->ctx, svc->conns[CONN_STATE].db, service_on_migrated, svc) < 0) {
		service_set_activity(svc, SERVICE_IDLE);
		log_err(svc->ctx, "could not start the state migration");
	}
}

static void service_on_warm(struct eval_result *res, void *arg)
{
	struct service *svc = arg;

	if (res->error)
		log_debug(svc->ctx, "evaluation: preparing the incremental statements failed (the "
			  "first notified child prepares them): %s", res->error);
	else
		log_debug(svc->ctx, "evaluation: the incremental statements are ready");
	eval_result_free(res);
	service_set_activity(svc, SERVICE_IDLE);
	if (!service_stopping(svc))
		service_kick(svc);
}

/* The first incremental evaluation of a session prepares and plans a statement per rule:
 * 0.1-0.5 s at a million children. An evaluation of no child at all does that while nothing
 * waits, so the first child notified after a start or a reconnect is as quick as the rest. */
void service_warm_up(struct service *svc)
{
	static const char *const none[1] = { NULL };
	struct eval_request req = { .child_ids = none, .n_child_ids = 0 };

	svc->warm_session = db_session(svc->conns[CONN_EVAL].db);
	service_set_activity(svc, SERVICE_WARMING);
	if (eval_start(svc->ctx, svc->conns[CONN_EVAL].db, &req, NULL, service_on_warm, svc) < 0)
		service_set_activity(svc, SERVICE_IDLE);
}
