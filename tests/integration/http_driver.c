/* http_driver: runs the /healthz and /metrics listener over known figures, for
 * tests/integration/test_http.sh.
 *
 *   http_driver --listen ADDR [--state healthy|fresh|db-down|eval-failed] [--seconds N]
 *               [--max-connections N (default 256)] [--verbose]
 *   http_driver --list-alerts
 *
 * Serves until N seconds have passed (default 60) or SIGTERM/SIGINT, then stops the listener
 * and exits 0; prints "listening ADDR" on standard output once bound. A listener that cannot
 * start prints its error on standard error and exits 1; bad usage exits 2.
 * --list-alerts prints "RULE STAGE VALUE" for every registered rule and stage, with the value
 * the served driftwatch_alerts sample must have, and exits.
 *
 * States: healthy (every figure filled); fresh (before the first evaluation); db-down (the
 * database error has a second, DETAIL line that must never be served); eval-failed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/ctx.h"
#include "driftwatch/http.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"

#define DRIVER_DB_ERROR \
	"connection to server at \"db.example\" failed: Connection refused\n" \
	"DETAIL: Failing row contains (child-4711, Jane Example)."

static long long driver_alert_value(size_t rule, size_t stage)
{
	return (long long)((rule + 1) * 10 + stage);
}

static void driver_fill(struct dw_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->evaluations_total = 42;
	m->evaluations_failed_total = 3;
	m->incremental_total = 30;
	m->eval_seconds_sum = 12.5;
	m->last_eval_seconds = 0.25;
	m->last_good_eval = 1767225600;
	m->last_eval_ok = 1;
	m->children_evaluated = 1234;
	for (size_t i = 0; i < rule_registry_count() && i < RULE_REGISTRY_MAX; i++)
		for (size_t j = 0; j < rule_registry_get(i)->n_stages && j < RULE_MAX_STAGES; j++)
			m->alerts[i][j] = driver_alert_value(i, j);
	/* escalations: the alert value + 1000, so a swapped index shows */
	for (size_t i = 0; i < rule_registry_count() && i < RULE_REGISTRY_MAX; i++)
		for (size_t j = 0; j < rule_registry_get(i)->n_stages && j < RULE_MAX_STAGES; j++)
			m->unanswered_total[i][j] = (unsigned long long)driver_alert_value(i, j) + 1000;
	m->responses_total[0] = 5;
	m->responses_total[1] = 2;
	m->responses_total[2] = 1;
	snprintf(m->bad[0].kind, sizeof(m->bad[0].kind), "cin_episode.missing_start");
	m->bad[0].count = 2;
	snprintf(m->bad[1].kind, sizeof(m->bad[1].kind), "odd\"kind\\with\nnewline");
	m->bad[1].count = 1;
	m->n_bad = 2;
	m->outbox.pending[0] = 4;
	m->outbox.pending[1] = 1;
	m->outbox.due[0] = 3;
	m->outbox.due[1] = 1;
	m->outbox.delivered[0] = 100;
	m->outbox.delivered[1] = 50;
	m->outbox.failed[0] = 2;
	m->outbox.failed[1] = 1;
	m->outbox.oldest_pending_age_s = 90.5;
	m->deliveries_total[0] = 100;
	m->deliveries_total[1] = 51;
	m->deliveries_failed_total = 3;
	m->db_reconnects_total = 7;
	m->db_up = 1;
	m->started = 1767220000;
}

static int driver_state(struct dw_metrics *m, const char *state)
{
	driver_fill(m);
	if (strcmp(state, "healthy") == 0)
		return 0;
	if (strcmp(state, "fresh") == 0) {
		m->evaluations_total = 0;
		m->evaluations_failed_total = 0;
		m->incremental_total = 0;
		m->last_eval_ok = 0;
		m->last_good_eval = 0;
		return 0;
	}
	if (strcmp(state, "db-down") == 0) {
		m->db_up = 0;
		snprintf(m->db_error, sizeof(m->db_error), "%s", DRIVER_DB_ERROR);
		return 0;
	}
	if (strcmp(state, "eval-failed") == 0) {
		m->last_eval_ok = 0;
		snprintf(m->last_eval_error, sizeof(m->last_eval_error),
			 "rule worker_churn: canceling statement due to statement timeout");
		return 0;
	}
	return -1;
}

static void driver_list_alerts(void)
{
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		for (size_t j = 0; j < def->n_stages; j++)
			printf("%s %s %lld\n", def->name, def->stages[j].name,
			       driver_alert_value(i, j));
	}
}

static void driver_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int driver_usage(const char *why)
{
	fprintf(stderr, "http_driver: %s\n"
		"usage: http_driver --listen ADDR [--state healthy|fresh|db-down|eval-failed] "
		"[--seconds N] [--max-connections N] [--verbose] | --list-alerts\n", why);
	return 2;
}

/* Serves until the deadline or a signal; the events are freed before returning. */
static int driver_serve(struct dw_ctx *ctx, const char *listen, long seconds, unsigned max_conns)
{
	struct timeval tv = { seconds, 0 };
	struct event *ev_term = evsignal_new(ctx->base, SIGTERM, driver_stop, ctx->base);
	struct event *ev_int = evsignal_new(ctx->base, SIGINT, driver_stop, ctx->base);
	struct event *ev_end = evtimer_new(ctx->base, driver_stop, ctx->base);
	struct http_server *srv = NULL;
	char err[512];
	int rc = 1;

	if (!ev_term || !ev_int || !ev_end || event_add(ev_term, NULL) < 0 ||
	    event_add(ev_int, NULL) < 0 || event_add(ev_end, &tv) < 0) {
		fprintf(stderr, "http_driver: cannot set up events\n");
	} else if (http_start(ctx, listen, max_conns, &srv, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
	} else {
		printf("listening %s\n", listen);
		fflush(stdout);
		event_base_dispatch(ctx->base);
		http_stop(srv);
		rc = 0;
	}
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_end)
		event_free(ev_end);
	return rc;
}

int main(int argc, char **argv)
{
	struct dw_ctx ctx;
	const char *listen = NULL, *state = "healthy";
	long seconds = 60, max_conns = 256;
	int rc;

	memset(&ctx, 0, sizeof(ctx));
	ctx.log_level = LOG_PRIO_INFO;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--list-alerts") == 0) {
			driver_list_alerts();
			return 0;
		}
		if (strcmp(a, "--verbose") == 0) {
			ctx.log_level = LOG_PRIO_DEBUG;
			continue;
		}
		if (!v)
			return driver_usage("an option is missing its value");
		i++;
		if (strcmp(a, "--listen") == 0)
			listen = v;
		else if (strcmp(a, "--state") == 0)
			state = v;
		else if (strcmp(a, "--seconds") == 0)
			seconds = atol(v);
		else if (strcmp(a, "--max-connections") == 0)
			max_conns = atol(v);
		else
			return driver_usage("unknown option");
	}
	if (!listen)
		return driver_usage("--listen is required");
	if (seconds < 1)
		return driver_usage("--seconds must be at least 1");
	if (max_conns < 1 || max_conns > 100000)
		return driver_usage("--max-connections must be 1 to 100000");
	if (driver_state(&ctx.metrics, state) < 0)
		return driver_usage("unknown --state");
	/* A client that closes early must not kill the process with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	log_route_libevent();
	ctx.base = event_base_new();
	if (!ctx.base) {
		fprintf(stderr, "http_driver: event_base_new failed\n");
		return 1;
	}
	rc = driver_serve(&ctx, listen, seconds, (unsigned)max_conns);
	event_base_free(ctx.base);
	return rc;
}
