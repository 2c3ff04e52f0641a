/* service: the daemon's named states and its one decision point: what runs next (schedule.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/leader.h"
#include "driftwatch/log.h"
#include "driftwatch/metrics.h"
#include "driftwatch/retention.h"
#include "driftwatch/schedule.h"
#include "driftwatch/sdnotify.h"
#include "driftwatch/service.h"

static const char *const service_activity_names[] = { "idle", "migrating", "evaluating",
						      "warming up", "pruning" };
static const char *const service_run_names[] = { "running", "draining deliveries",
						 "cancelling deliveries" };

int service_stopping(const struct service *svc)
{
	return svc->run != SERVICE_RUNNING;
}

void service_set_activity(struct service *svc, enum service_activity to)
{
	enum service_activity from = svc->activity;

	/* Only from idle to something, and back: two things at once on the state connection
	 * would share its transaction. */
	if ((from == SERVICE_IDLE) == (to == SERVICE_IDLE)) {
		log_err(svc->ctx, "service: activity %s -> %s is not allowed (a bug: please report "
			"it)", service_activity_names[from], service_activity_names[to]);
		return;
	}
	log_debug(svc->ctx, "service: %s -> %s", service_activity_names[from],
		  service_activity_names[to]);
	svc->activity = to;
	svc->ctx->metrics.eval_running_since = to == SERVICE_EVALUATING ? time(NULL) : 0;
}

void service_set_run(struct service *svc, enum service_run to)
{
	if (to <= svc->run)
		return;
	log_debug(svc->ctx, "service: %s -> %s", service_run_names[svc->run],
		  service_run_names[to]);
	svc->run = to;
}

void service_status(struct service *svc, const char *fmt, const char *detail)
{
	char line[256];

	snprintf(line, sizeof(line), fmt, detail ? detail : "");
	sdnotify_status(svc->sd, "%s", line);
}

void service_add_timer(struct event *ev, double seconds)
{
	struct timeval tv;

	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	evtimer_add(ev, &tv);
}

/* ---- what is wanted ---- */

/* Everyone is to be evaluated, for a reason other than NOTIFY: no gap to wait out. */
void service_want_full(struct service *svc)
{
	svc->full_pending = 1;
	svc->full_by_notify = 0;
}

/* Everyone is evaluated instead of the notified children; said once per request, not once per
 * message of a storm. */
void service_want_full_by_notify(struct service *svc, const char *why)
{
	if (svc->full_pending)
		return;
	log_info(svc->ctx, "%s: evaluating everyone", why);
	svc->full_pending = 1;
	svc->full_by_notify = 1;
	idset_clear(&svc->pending);
}

/* ---- what runs next ---- */

static int service_conn_up(const struct service *svc, enum service_conn_id which)
{
	return svc->conns[which].db && db_is_up(svc->conns[which].db);
}

static void service_observe(const struct service *svc, struct schedule_in *in)
{
	const struct service_conn *listen = &svc->conns[CONN_LISTEN];

	memset(in, 0, sizeof(*in));
	in->stopping = service_stopping(svc);
	in->busy = svc->activity != SERVICE_IDLE;
	in->reload = svc->reload != NULL;
	/* NULL while a reload replaces the connections: a callback run by the closing may kick */
	in->conns_up = service_conn_up(svc, CONN_EVAL) && service_conn_up(svc, CONN_STATE);
	in->retry_waiting = evtimer_pending(svc->ev_eval_retry, NULL);
	in->listen_answered = listen->listening != 1;
	in->listen_tried = listen->was_up || listen->attempts > 0;
	in->migrated = svc->migrated;
	in->leading = svc->leader && leader_is_leading(svc->leader);
	in->full_pending = svc->full_pending;
	in->full_by_notify = svc->full_by_notify;
	in->since_full = svc->last_full_start ? difftime(time(NULL), svc->last_full_start) : -1;
	in->notify_gap = SERVICE_NOTIFY_FULL_GAP_S;
	in->pending = svc->pending.n;
	in->warm = in->conns_up &&
		   svc->warm_session == db_session(svc->conns[CONN_EVAL].db);
}

void service_kick(struct service *svc)
{
	struct schedule_in in;
	enum schedule_action next;

	service_observe(svc, &in);
	next = schedule_decide(&in);
	if (next != SCHEDULE_NOTHING)
		log_debug(svc->ctx, "service: next: %s", schedule_action_name(next));
	switch (next) {
	case SCHEDULE_NOTHING:
		return;
	case SCHEDULE_RELOAD:
		/* The kick often comes from the callback of a query on a connection that a
		 * reload may close (an evaluation's end): db.h forbids freeing it there. */
		if (!evtimer_pending(svc->ev_reload, NULL))
			service_add_timer(svc->ev_reload, 0);
		return;
	case SCHEDULE_MIGRATE:
		service_start_migration(svc);
		return;
	case SCHEDULE_DROP_PENDING:
		idset_clear(&svc->pending);
		return;
	case SCHEDULE_WAIT_GAP:
		if (!evtimer_pending(svc->ev_full_gap, NULL))
			service_add_timer(svc->ev_full_gap, schedule_gap_left(&in));
		return;
	case SCHEDULE_FULL:
	case SCHEDULE_INCREMENTAL:
		service_start_eval(svc);
		return;
	case SCHEDULE_WARM:
		service_warm_up(svc);
		return;
	}
}

/* From the loop itself: whatever was in flight may have changed since the kick. */
void service_on_reload(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct schedule_in in;

	(void)fd;
	(void)what;
	service_observe(svc, &in);
	if (schedule_decide(&in) != SCHEDULE_RELOAD)
		service_kick(svc);
	else if (!service_reload_check(svc))
		service_apply_reload(svc);
}

/* ---- the leader ---- */

/* A new leader cannot know what changed while another led: it evaluates everyone. One that
 * stops leading drops the figures of its last evaluation: the new leader reports its own. */
static void service_on_leader(int leading, void *arg)
{
	struct service *svc = arg;

	svc->leader_changes++;
	if (!leading)
		metrics_leader_lost(&svc->ctx->metrics);
	svc->ctx->metrics.leading = leading;
	if (leading) {
		service_want_full(svc);
		service_kick(svc);
	}
}

int service_leader_open(struct service *svc)
{
	svc->leader = leader_new(svc->ctx, service_on_leader, svc);
	return svc->leader ? 0 : -1;
}

/* ---- timers ---- */

void service_on_full_timer(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	service_check_standby(svc);
	service_want_full(svc);
	service_kick(svc);
}

void service_on_batch(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service_kick(arg);
}

/* ---- retention ---- */

static void service_on_pruned(long long notices, long long evaluations, const char *error,
			      void *arg)
{
	struct service *svc = arg;
	int cut_short = !error && (notices >= (long long)RETENTION_BATCH * RETENTION_MAX_BATCHES ||
				   evaluations >= (long long)RETENTION_BATCH * RETENTION_MAX_BATCHES);

	service_set_activity(svc, SERVICE_IDLE);
	if (service_stopping(svc))
		return;
	if (error)
		log_info(svc->ctx, "retention: pruning stopped (tried again later): %s", error);
	else if (notices || evaluations)
		log_info(svc->ctx, "retention: pruned %lld delivered notices and %lld evaluations "
			 "older than %d days", notices, evaluations, svc->ctx->cfg->retention_days);
	service_add_timer(svc->ev_prune, error || cut_short ? SERVICE_PRUNE_FIRST_S
							    : SERVICE_PRUNE_EVERY_S);
	service_kick(svc);
}

/* Only the instance that evaluates prunes, on the state connection between its other work:
 * that connection carries the recording's transaction while an evaluation runs. */
void service_on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	struct db_conn *db = svc->conns[CONN_STATE].db;

	(void)fd;
	(void)what;
	if (service_stopping(svc))
		return;
	if (!svc->migrated || !db || !db_is_up(db) || !leader_is_leading(svc->leader) ||
	    svc->activity != SERVICE_IDLE) {
		service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
		return;
	}
	service_set_activity(svc, SERVICE_PRUNING);
	if (retention_prune(svc->ctx, db, service_on_pruned, svc) < 0) {
		service_set_activity(svc, SERVICE_IDLE);
		service_add_timer(svc->ev_prune, SERVICE_PRUNE_FIRST_S);
	}
}
