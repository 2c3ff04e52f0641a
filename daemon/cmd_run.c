/* cmd_run: the long-running daemon: starts it, reloads it on SIGHUP, stops it on SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/errlist.h"
#include "driftwatch/http.h"
#include "driftwatch/leader.h"
#include "driftwatch/log.h"
#include "driftwatch/record.h"
#include "driftwatch/sdnotify.h"
#include "driftwatch/service.h"
#include "driftwatch/web.h"

/* ---- stopping ---- */

static void run_on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	if (svc->run == SERVICE_CANCELLING) {
		/* The database did not take the results in time: those notices stay leased and go
		 * out when the lease ends, with the same idempotency key. */
		log_warn(svc->ctx, "stopping: delivery results not recorded within %d s; their "
			 "notices go out again when their lease ends", SERVICE_STOP_RECORD_S);
		event_base_loopbreak(svc->ctx->base);
		return;
	}
	log_warn(svc->ctx, "stopping: deliveries still running after %d s; cancelling them (they "
		 "stay in the outbox and go out at the next start)", SERVICE_STOP_GRACE_S);
	service_set_run(svc, SERVICE_CANCELLING);
	service_add_timer(svc->ev_stop, SERVICE_STOP_RECORD_S);
	/* Cancelled transfers report back into the deliverer, whose stop then ends the loop. */
	curl_loop_free(svc->loop);
	svc->loop = NULL;
	if (svc->delivery_stopped || !svc->deliver)
		event_base_loopbreak(svc->ctx->base);
}

static void run_stop(struct service *svc, const char *why)
{
	struct event *timers[] = { svc->ev_interval, svc->ev_midnight, svc->ev_batch,
				   svc->ev_full_gap, svc->ev_prune, svc->ev_eval_retry,
				   svc->ev_deliver, svc->ev_outbox, svc->ev_blockers, svc->ev_reload };

	if (service_stopping(svc))
		return;
	service_set_run(svc, SERVICE_DRAINING);
	log_notice(svc->ctx, "stopping (%s)", why);
	sdnotify_stopping(svc->sd);
	http_stop(svc->http);
	svc->http = NULL;
	web_stop(svc->web);
	svc->web = NULL;
	for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		evtimer_del(timers[i]);
	if (!svc->deliver) {
		event_base_loopbreak(svc->ctx->base);
		return;
	}
	service_add_timer(svc->ev_stop, SERVICE_STOP_GRACE_S);
	service_deliver_stop(svc);
}

/* ---- reloading ---- */

static void run_interval_arm(struct service *svc)
{
	struct timeval tv = { svc->ctx->cfg->eval_interval_s, 0 };

	evtimer_del(svc->ev_interval);
	event_assign(svc->ev_interval, svc->ctx->base, -1, EV_PERSIST, service_on_full_timer, svc);
	evtimer_add(svc->ev_interval, &tv);
}

static int run_http_open(struct service *svc)
{
	char err[512];

	if (!svc->ctx->cfg->http_listen)
		return 0;
	if (http_start(svc->ctx, svc->ctx->cfg->http_listen, svc->budget.http_connections,
		       &svc->http, err, sizeof(err)) < 0) {
		log_err(svc->ctx, "%s: http.listen: %s", svc->ctx->cfg->path, err);
		return -1;
	}
	return 0;
}

/* A reload's new http.listen, bound before the old is let go: an address that cannot be bound
 * (in use, not this host's) left /healthz and /metrics gone until a restart, though the reload
 * said "applied". The old address keeps serving then, and the log says why. */
static void run_http_reopen(struct service *svc, const char *old_listen)
{
	struct http_server *fresh = NULL;
	const char *listen = svc->ctx->cfg->http_listen;
	char err[512];

	if (!listen) {
		http_stop(svc->http);
		svc->http = NULL;
		return;
	}
	if (http_start(svc->ctx, listen, svc->budget.http_connections, &fresh, err,
		       sizeof(err)) < 0 && svc->http) {
		/* the same port on another address may be held by the old listener itself */
		http_stop(svc->http);
		svc->http = NULL;
		if (http_start(svc->ctx, listen, svc->budget.http_connections, &fresh, err,
			       sizeof(err)) < 0)
			fresh = NULL;
	}
	if (fresh) {
		http_stop(svc->http);
		svc->http = fresh;
		return;
	}
	log_err(svc->ctx, "reload: http.listen %s cannot be bound (%s): /healthz and /metrics "
		"stay on %s", listen, err, old_listen ? old_listen : "nothing");
	if (!svc->http && old_listen &&
	    http_start(svc->ctx, old_listen, svc->budget.http_connections, &svc->http, err,
		       sizeof(err)) < 0)
		log_err(svc->ctx, "reload: http.listen: the old address %s cannot be bound again "
			"either (%s): /healthz and /metrics are off until a restart", old_listen,
			err);
}

/* The web listener reads its secrets once, at its start: a reload restarts it (closing the
 * connections open on it), so a rotated link secret or token file is read again. */
static int run_web_open(struct service *svc)
{
	char err[512];

	svc->ctx->metrics.web_problem[0] = '\0';
	if (!svc->ctx->cfg->web.listen)
		return 0;
	if (web_start(svc->ctx, svc->budget.http_connections, &svc->web, err, sizeof(err)) < 0) {
		log_err(svc->ctx, "%s: web.listen: %s", svc->ctx->cfg->path, err);
		/* cut to fit: the log line above has it whole */
		if (snprintf(svc->ctx->metrics.web_problem, sizeof(svc->ctx->metrics.web_problem),
			     "web.listen %s is not serving: %.300s", svc->ctx->cfg->web.listen,
			     err) < 0)
			svc->ctx->metrics.web_problem[0] = '\0';
		return -1;
	}
	return 0;
}

/* A new configuration is read at once and checked; a bad one is reported (file and key) and
 * the running one kept. A good one waits for the evaluation in progress (schedule.h). */
static void run_on_sighup(struct service *svc)
{
	struct errlist errs = { 0 };
	struct dw_config *cfg;

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
	svc->reload_gen++;
	log_notice(svc->ctx, "reload: %s is good; applying it once the evaluation in progress (if "
		   "any) ends; deliveries do not hold it", svc->config_path);
	service_kick(svc);
}

static void run_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct service *svc = arg;

	(void)what;
	if (sig == SIGHUP)
		run_on_sighup(svc);
	else
		run_stop(svc, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Swapped in only when nothing holds the state connection: evaluation reads the configuration
 * as it goes. Deliveries never hold it. */
void service_apply_reload(struct service *svc)
{
	struct dw_config *old = svc->ctx->cfg;
	struct dw_config *cfg = svc->reload;
	/* Another state schema is another state: it is made (migrated) on fresh connections, as
	 * at a start. Applied on the same ones, the new schema was never made, and every
	 * evaluation and claim failed on it until a restart (audit 16, S1). */
	int reconnect = strcmp(old->conninfo, cfg->conninfo) != 0 ||
			strcmp(config_state_conninfo(old), config_state_conninfo(cfg)) != 0 ||
			strcmp(old->state_schema, cfg->state_schema) != 0;
	/* A new set of connections gives the advice on the case schema when it arrives. */
	int renote = !reconnect && strcmp(old->case_schema, cfg->case_schema) != 0;
	int rehttp = (old->http_listen == NULL) != (cfg->http_listen == NULL) ||
		     (old->http_listen && strcmp(old->http_listen, cfg->http_listen) != 0);

	svc->reload = NULL;
	svc->ctx->cfg = cfg;
	svc->ctx->metrics.stall_s = cfg->stall_s;
	service_reload_delivery(svc, reconnect);
	/* The bound on a hung query follows the new query_timeout_seconds at once. */
	if (!reconnect)
		for (int i = 0; i < CONN_COUNT; i++)
			if (i != CONN_LISTEN)
				db_set_query_timeout(svc->conns[i].db, cfg->query_timeout_s + 10);
	if (rehttp)
		run_http_reopen(svc, old->http_listen);
	web_stop(svc->web);
	svc->web = NULL;
	run_web_open(svc);
	run_interval_arm(svc);
	/* The lock lives on the old database under the old schema's name: take the new one. */
	if (reconnect) {
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
	if (renote)
		service_note_contract(svc);
	service_want_full(svc);
	service_kick(svc);
}

/* ---- events ---- */

static void run_on_eval_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_kick(arg);
}

static void run_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	/* The loop turning is what the watchdog checks; a stuck loop never gets here. */
	sdnotify_watchdog(svc->sd);
}

static int run_events_new(struct service *svc)
{
	struct event_base *base = svc->ctx->base;

	svc->ev_interval = event_new(base, -1, EV_PERSIST, service_on_full_timer, svc);
	svc->ev_midnight = evtimer_new(base, service_on_full_timer, svc);
	svc->ev_batch = evtimer_new(base, service_on_batch, svc);
	svc->ev_full_gap = evtimer_new(base, service_on_batch, svc);
	svc->ev_prune = evtimer_new(base, service_on_prune, svc);
	svc->ev_reload = evtimer_new(base, service_on_reload, svc);
	svc->ev_eval_retry = evtimer_new(base, run_on_eval_retry, svc);
	svc->ev_deliver = event_new(base, -1, EV_PERSIST, service_on_deliver_timer, svc);
	svc->ev_outbox = event_new(base, -1, EV_PERSIST, service_outbox_metrics, svc);
	svc->ev_blockers = event_new(base, -1, EV_PERSIST, service_on_blockers_timer, svc);
	svc->ev_watchdog = event_new(base, -1, EV_PERSIST, run_on_watchdog, svc);
	svc->ev_stop = evtimer_new(base, run_on_stop_deadline, svc);
	svc->ev_sigterm = evsignal_new(base, SIGTERM, run_on_signal, svc);
	svc->ev_sigint = evsignal_new(base, SIGINT, run_on_signal, svc);
	svc->ev_sighup = evsignal_new(base, SIGHUP, run_on_signal, svc);
	return svc->ev_interval && svc->ev_midnight && svc->ev_batch && svc->ev_full_gap &&
	       svc->ev_prune && svc->ev_reload && svc->ev_eval_retry && svc->ev_deliver &&
	       svc->ev_outbox && svc->ev_blockers && svc->ev_watchdog && svc->ev_stop && svc->ev_sigterm && svc->ev_sigint &&
	       svc->ev_sighup ? 0 : -1;
}

static void run_events_free(struct service *svc)
{
	struct event *evs[] = { svc->ev_interval, svc->ev_midnight, svc->ev_batch,
				svc->ev_full_gap, svc->ev_prune, svc->ev_reload, svc->ev_eval_retry,
				svc->ev_deliver, svc->ev_outbox, svc->ev_blockers,
				svc->ev_watchdog, svc->ev_stop,
				svc->ev_sigterm, svc->ev_sigint, svc->ev_sighup };

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
}

static void run_timers_arm(struct service *svc)
{
	struct timeval poll = { SERVICE_DELIVER_POLL_S, 0 };
	struct timeval outbox = { SERVICE_OUTBOX_METRICS_S, 0 };
	struct timeval blockers = { SERVICE_BLOCKERS_S, 0 };
	unsigned long long wd = sdnotify_watchdog_interval_usec();

	run_interval_arm(svc);
	service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
	evtimer_add(svc->ev_deliver, &poll);
	evtimer_add(svc->ev_outbox, &outbox);
	evtimer_add(svc->ev_blockers, &blockers);
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
static void run_budget(struct service *svc)
{
	char err[256];

	if (fdbudget_plan(&svc->budget, err, sizeof(err)) < 0)
		log_warn(svc->ctx, "file descriptors: %s", err);
	log_info(svc->ctx, "file descriptors: limit %lu: up to %u HTTP connections and %u "
		 "transfers at once", svc->budget.limit, svc->budget.http_connections,
		 svc->budget.transfers);
}

/* ---- start and end ---- */

static int run_start(struct service *svc)
{
	struct dw_ctx *ctx = svc->ctx;
	char sderr[256] = "";

	svc->sd = sdnotify_open(sderr, sizeof(sderr));
	if (!svc->sd && sderr[0])
		log_warn(ctx, "systemd notification is off: %s", sderr);
	run_budget(svc);
	svc->loop = curl_loop_new(ctx->base, svc->budget.transfers);
	if (!svc->loop || run_events_new(svc) < 0 || service_conns_open(svc) < 0 ||
	    service_leader_open(svc) < 0) {
		log_err(ctx, "could not start: out of memory");
		return 1;
	}
	if (service_deliver_open(svc) < 0)
		return 2;
	/* A runtime failure, not the configuration's: an address in use (an old instance still
	 * stopping, another service) or a name the resolver cannot answer yet clears, and exit 2
	 * is the one the unit never restarts after (RestartPreventExitStatus=2; audit 16). */
	if (run_http_open(svc) < 0 || run_web_open(svc) < 0)
		return 1;
	run_timers_arm(svc);
	log_notice(ctx, "driftwatchd %s started: evaluating every %d s and after midnight (%s)",
		   DW_VERSION, ctx->cfg->eval_interval_s, ctx->cfg->timezone);
	if (!ctx->cfg->email.enabled)
		log_notice(ctx, "email is off (no \"email\" section): alerts go to the webhooks "
			   "only");
	if (config_email_clear_remote(&ctx->cfg->email))
		log_warn(ctx, "email.tls is \"none\" to a host that is not a loopback address: mail "
			 "and the SMTP password cross the network in clear text (\"none\" is only for "
			 "a relay on the same host)");
	sdnotify_ready(svc->sd);
	return 0;
}

/* Order matters: cancelled transfers report into the deliverer, and closing the connections
 * tells every waiting query's owner (evaluation, recording, the deliverer's retired copy). The
 * deliverer is retired before the connections close: it holds two of them, and a live one
 * answered on the first to close would use the other, already freed. */
static void run_end(struct service *svc)
{
	service_set_run(svc, SERVICE_CANCELLING);
	curl_loop_free(svc->loop);
	http_stop(svc->http);
	web_stop(svc->web);
	deliver_free(svc->deliver);
	svc->deliver = NULL;
	service_conns_close(svc);
	leader_free(svc->leader);
	eval_result_free(svc->res);
	idset_free_ids(svc->req_ids, svc->n_req_ids);
	idset_clear(&svc->pending);
	free(svc->bad_rows_last);
	free(svc->rls_said);
	if (svc->reload) {
		config_free(svc->reload);
		free(svc->reload);
	}
	run_events_free(svc);
	sdnotify_close(svc->sd);
}

int cmd_run(struct dw_ctx *ctx, const char *config_path)
{
	struct service svc;
	int status;

	memset(&svc, 0, sizeof(svc));
	svc.ctx = ctx;
	svc.config_path = config_path;
	svc.full_pending = 1;
	idset_init(&svc.pending);
	ctx->metrics.started = time(NULL);
	ctx->metrics.stall_s = ctx->cfg->stall_s;
	status = run_start(&svc);
	if (status == 0) {
		event_base_dispatch(ctx->base);
		log_notice(ctx, "stopped");
	}
	run_end(&svc);
	return status;
}
