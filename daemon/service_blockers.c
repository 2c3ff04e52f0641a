/* service_blockers: who an evaluation running past health.stall_seconds waits for, for /healthz. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/metrics.h"
#include "driftwatch/service.h"

/* One question: about the session of conn `waiting`, asked on another connection to the same
 * server (the evaluation's case session on the LISTEN one, the recording's state session on
 * the delivery one), each of which is free for a short statement while the other waits. */
struct service_blockers_q {
	enum service_conn_id waiting;
	enum service_conn_id ask_on;
	int bit;
	size_t field;                 /* offsetof the metrics text it fills */
};

static const struct service_blockers_q service_blockers_qs[] = {
	{ CONN_EVAL, CONN_LISTEN, 1, offsetof(struct dw_metrics, eval_blocked) },
	{ CONN_STATE, CONN_DELIVER, 2, offsetof(struct dw_metrics, record_blocked) },
};

struct service_blockers_asked {
	struct service *svc;
	const struct service_blockers_q *q;
	time_t eval;                  /* the evaluation it was asked for */
};

static void service_on_blockers(const char *said, void *arg)
{
	struct service_blockers_asked *a = arg;
	struct dw_metrics *m = &a->svc->ctx->metrics;

	a->svc->blockers_asking &= ~a->q->bit;
	/* an answer about an evaluation that has ended says nothing about the next one */
	if (said && m->eval_running_since && m->eval_running_since == a->eval)
		snprintf((char *)m + a->q->field, sizeof(m->eval_blocked), "%s", said);
	free(a);
}

static void service_blockers_ask(struct service *svc, const struct service_blockers_q *q)
{
	struct db_conn *waiting = svc->conns[q->waiting].db;
	struct db_conn *ask_on = svc->conns[q->ask_on].db;
	struct service_blockers_asked *a;

	if ((svc->blockers_asking & q->bit) || !waiting || !ask_on || !db_is_up(waiting) ||
	    !db_is_up(ask_on))
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->svc = svc;
	a->q = q;
	a->eval = svc->ctx->metrics.eval_running_since;
	if (lockwait_blockers(ask_on, PQbackendPID(db_pgconn(waiting)), service_on_blockers,
			      a) < 0) {
		free(a);
		return;
	}
	svc->blockers_asking |= q->bit;
}

void service_on_blockers_timer(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;
	const struct dw_metrics *m = &svc->ctx->metrics;
	time_t running = m->eval_running_since ? time(NULL) - m->eval_running_since : 0;

	(void)fd;
	(void)what;
	if (m->stall_s <= 0 || running <= m->stall_s)
		return;
	for (size_t i = 0; i < sizeof(service_blockers_qs) / sizeof(service_blockers_qs[0]); i++)
		service_blockers_ask(svc, &service_blockers_qs[i]);
}
