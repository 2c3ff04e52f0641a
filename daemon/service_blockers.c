/* service_blockers: whom a session held past health.stall_seconds waits for, for /healthz. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/metrics.h"
#include "driftwatch/service.h"

/* One question: about the session of conn `waiting`, asked on the first of ask_on that is up
 * and has nothing in flight: another connection to the same server, free for a short statement
 * while the other waits, and holding no transaction of its own (the state connection only while
 * no evaluation uses it). A lock on the outbox holds the email claims too, so the delivery's
 * question falls back to the state connection. CONN_COUNT ends a list. */
struct service_blockers_q {
	enum metrics_blocked_id id;
	enum service_conn_id waiting;
	enum service_conn_id ask_on[3];
};

static const struct service_blockers_q service_blockers_qs[] = {
	{ METRICS_BLOCKED_EVAL, CONN_EVAL, { CONN_LISTEN, CONN_COUNT } },
	{ METRICS_BLOCKED_RECORD, CONN_STATE, { CONN_DELIVER, CONN_MAIL, CONN_COUNT } },
	{ METRICS_BLOCKED_DELIVER, CONN_DELIVER, { CONN_MAIL, CONN_STATE, CONN_COUNT } },
};

#define SERVICE_BLOCKERS_NQ (sizeof(service_blockers_qs) / sizeof(service_blockers_qs[0]))

struct service_blockers_asked {
	struct service *svc;
	const struct service_blockers_q *q;
	time_t since;                 /* the wait it was asked about */
};

static void service_on_blockers(const char *said, void *arg)
{
	struct service_blockers_asked *a = arg;
	struct metrics_blocked *b = &a->svc->ctx->metrics.blocked[a->q->id];

	a->svc->blockers_asking &= ~(1 << a->q->id);
	/* an answer about a wait that has ended says nothing about the next one */
	if (said && metrics_blocked_since(&a->svc->ctx->metrics, a->q->id) == a->since) {
		b->since = a->since;
		snprintf(b->text, sizeof(b->text), "%s", said);
	}
	free(a);
}

static struct db_conn *service_blockers_free_conn(struct service *svc,
						   const enum service_conn_id *ask_on)
{
	for (const enum service_conn_id *c = ask_on; *c != CONN_COUNT; c++) {
		struct db_conn *db = svc->conns[*c].db;

		if (*c == CONN_STATE && svc->activity != SERVICE_IDLE)
			continue;
		if (db && db_is_up(db) && !db_busy(db))
			return db;
	}
	return NULL;
}

static void service_blockers_ask(struct service *svc, const struct service_blockers_q *q)
{
	const struct dw_metrics *m = &svc->ctx->metrics;
	struct db_conn *waiting = svc->conns[q->waiting].db;
	struct db_conn *ask_on;
	time_t since = metrics_blocked_since(m, q->id);
	struct service_blockers_asked *a;

	if (!since || m->stall_s <= 0 || time(NULL) - since <= m->stall_s)
		return;
	if ((svc->blockers_asking & (1 << q->id)) || !waiting || !db_is_up(waiting))
		return;
	ask_on = service_blockers_free_conn(svc, q->ask_on);
	if (!ask_on)
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->svc = svc;
	a->q = q;
	a->since = since;
	if (lockwait_blockers(ask_on, PQbackendPID(db_pgconn(waiting)), service_on_blockers,
			      a) < 0) {
		free(a);
		return;
	}
	svc->blockers_asking |= 1 << q->id;
}

/* ---- notes on a statement near its deadline ----
 * Any connection's statement in flight for half of query_timeout_seconds is asked about too,
 * whatever health.stall_seconds says, and the answer rides on the connection (db_note_wait): if
 * the client's deadline (query_timeout_seconds + 10) then drops it, the log and /healthz say
 * whom it was waiting for. A reload holding the outbox read as "database unreachable: query did
 * not finish", naming neither the lock nor its holder (audit 18, F6): the state's statements
 * have no lock_timeout, so nothing else would. Asked only on connections to the same server
 * with nothing in flight and no transaction of their own to spoil. */
static const enum service_conn_id service_notes_ask_on[CONN_COUNT][3] = {
	[CONN_STATE] = { CONN_DELIVER, CONN_MAIL, CONN_COUNT },
	[CONN_DELIVER] = { CONN_MAIL, CONN_STATE, CONN_COUNT },
	[CONN_MAIL] = { CONN_DELIVER, CONN_STATE, CONN_COUNT },
	[CONN_EVAL] = { CONN_LISTEN, CONN_COUNT },
	[CONN_COUNT_BAD] = { CONN_LISTEN, CONN_COUNT },
	[CONN_LISTEN] = { CONN_COUNT },
};

struct service_notes_asked {
	struct service *svc;
	enum service_conn_id waiting;
	unsigned long query;          /* the statement asked about (db_sent_at) */
};

static void service_on_note(const char *said, void *arg)
{
	struct service_notes_asked *a = arg;
	struct db_conn *db = a->svc->conns[a->waiting].db;

	a->svc->notes_asking &= ~(1u << a->waiting);
	if (said && db)
		db_note_wait(db, a->query, said);
	free(a);
}

static void service_notes_ask(struct service *svc, enum service_conn_id waiting)
{
	struct db_conn *db = svc->conns[waiting].db;
	int half = svc->ctx->cfg->query_timeout_s / 2;
	unsigned long query;
	time_t sent = db ? db_sent_at(db, &query) : 0;
	struct db_conn *ask_on;
	struct service_notes_asked *a;

	if (!sent || time(NULL) - sent < (half > SERVICE_BLOCKERS_S ? half : SERVICE_BLOCKERS_S))
		return;
	if (svc->notes_asking & (1u << waiting))
		return;
	ask_on = service_blockers_free_conn(svc, service_notes_ask_on[waiting]);
	if (!ask_on)
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;
	a->svc = svc;
	a->waiting = waiting;
	a->query = query;
	if (lockwait_blockers(ask_on, PQbackendPID(db_pgconn(db)), service_on_note, a) < 0) {
		free(a);
		return;
	}
	svc->notes_asking |= 1u << waiting;
}

void service_on_blockers_timer(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < SERVICE_BLOCKERS_NQ; i++)
		service_blockers_ask(svc, &service_blockers_qs[i]);
	for (int c = 0; c < CONN_COUNT; c++)
		if (c != CONN_LISTEN)
			service_notes_ask(svc, (enum service_conn_id)c);
}
