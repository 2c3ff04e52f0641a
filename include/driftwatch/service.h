/* service: the long-running daemon's state, shared by the files that make it up (service*.c and
 * cmd_run.c); nothing else includes this. */
#ifndef DRIFTWATCH_SERVICE_H
#define DRIFTWATCH_SERVICE_H

#include <time.h>

#include <event2/util.h>

#include "driftwatch/eval.h"
#include "driftwatch/fdbudget.h"
#include "driftwatch/idset.h"

struct dw_ctx;
struct dw_config;
struct db_conn;
struct curl_loop;
struct deliver;
struct http_server;
struct web_server;
struct sdnotify;
struct leader;
struct record;
struct event;

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
/* While an evaluation runs past health.stall_seconds, who its sessions wait for is asked this
 * often (service_blockers.c). */
#define SERVICE_BLOCKERS_S 5
#define SERVICE_RECONNECT_MAX_S 30
#define SERVICE_OUTAGE_WHYS 4
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
 * a time, on the state connection (which also migrates the schema and prunes). Bad rows are
 * counted on a connection of their own: at a million children the count takes longer than the
 * rules together, and no alert should wait for it. The email claims have one of their own too
 * (deliver.h): on a first day each takes seconds, and no webhook should wait for it. */
enum service_conn_id {
	CONN_STATE, CONN_EVAL, CONN_DELIVER, CONN_LISTEN, CONN_COUNT_BAD, CONN_MAIL, CONN_COUNT
};

/* What holds the state connection: one thing at a time. */
enum service_activity {
	SERVICE_IDLE, SERVICE_MIGRATING, SERVICE_EVALUATING, SERVICE_WARMING, SERVICE_PRUNING
};

/* The bad-row count, on its own connection beside the rest. */
enum service_count { SERVICE_COUNT_IDLE, SERVICE_COUNT_RUNNING };

/* Running, then on SIGTERM: waiting for deliveries (the grace), then for the results of the
 * cancelled ones; only forward. */
enum service_run { SERVICE_RUNNING, SERVICE_DRAINING, SERVICE_CANCELLING };

struct service;

/* A connection the service keeps alive: reconnected with backoff whenever it breaks. */
struct service_conn {
	struct service *svc;
	enum service_conn_id which;
	struct db_conn *db;
	struct event *ev_retry;
	int delay_s;
	int attempts;       /* failed attempts since it was last up */
	int was_up;         /* it has been up at least once (a reconnect, not a first connect) */
	int listening;      /* CONN_LISTEN: LISTEN sent (1) and confirmed (2) on this session */
};

struct service {
	/* the last recorded evaluation, for systemd's STATUS= line, said again with the number of
	 * children once the count that follows it ends (service_eval.c) */
	char status_as_of[16];
	char status_eval[128];
	struct dw_ctx *ctx;
	const char *config_path;
	enum service_run run;
	enum service_activity activity;
	enum service_count count;
	struct service_conn conns[CONN_COUNT];
	struct curl_loop *loop;
	struct deliver *deliver;
	struct http_server *http;
	struct web_server *web;      /* web.listen: links and the JSON API, or NULL */
	struct sdnotify *sd;
	struct leader *leader;        /* whether this instance evaluates (several may run) */
	unsigned leader_changes;      /* times it started or stopped evaluating */
	unsigned eval_term;           /* leader_changes when the evaluation in flight began */
	struct idset pending;         /* notified children not yet evaluated */
	int migrated;
	int case_standby;             /* the case database said it is in recovery (a hot
				       * standby): no LISTEN, polling only */
	int standby_asking;           /* pg_is_in_recovery() asked, not yet answered */
	int full_pending;
	int full_by_notify;           /* ... asked for by NOTIFY only: kept to the gap above */
	time_t last_full_start;       /* when the latest full evaluation began (0: none yet) */
	unsigned long warm_session;   /* CONN_EVAL session whose incremental plans are made */
	int count_pending;            /* a full evaluation was recorded: count bad rows again */
	/* a full evaluation queued notices: delivery starts once its escalation pass is done, so
	 * that a digest not held for a slot takes both (one email a person, not two) */
	int deliver_after_unanswered;
	int empty_checking;           /* the emptiness checks hold CONN_COUNT_BAD: no count yet */
	char *bad_rows_last;          /* the last count as logged, to log only a change */
	char *rls_said;               /* row-level security as last asked (contract_rls_text) */
	int delivery_stopped;         /* stopping: the deliverer has ended every transfer */
	struct fdbudget budget;       /* HTTP connections and transfers the file limit allows */
	time_t db_outage;             /* when the database was lost (0: every connection is up) */
	int db_outage_was_up;         /* the outage is a loss, not a first connect failing */
	/* the reasons said at warning in this outage, each once (the first four) */
	char db_outage_why[SERVICE_OUTAGE_WHYS][256];
	int eval_retry_s;             /* the wait before retrying a failed evaluation; 0 = none */
	int deliver_stale;            /* the deliverer waits for the delivery connection */
	struct dw_config *reload;     /* a good new configuration waiting for a quiet moment */
	unsigned reload_gen;          /* counts the configurations staged by SIGHUP */
	unsigned reload_checked;      /* ... the one whose case schema was asked about */
	int reload_asking;            /* the question is in flight (service_reload.c) */
	struct eval_request req;      /* the evaluation in flight */
	char **req_ids;
	size_t n_req_ids;
	struct record *rec;           /* its recording */
	struct eval_result *res;
	struct event *ev_interval, *ev_midnight, *ev_batch, *ev_eval_retry, *ev_deliver, *ev_outbox,
		     *ev_blockers;
	int blockers_asking;          /* bits: a question about CONN_EVAL (1), CONN_STATE (2) */
	time_t blockers_for;          /* the evaluation asked about (its eval_running_since) */
	unsigned notes_asking;        /* bits by enum service_conn_id: a question about its
				       * statement near its deadline (service_blockers.c) */
	struct event *ev_full_gap, *ev_prune;
	struct event *ev_listen_ping; /* the listener's proof of life (service_conns.c) */
	struct event *ev_reload;      /* applies a reload from the loop, never inside a callback */
	struct event *ev_watchdog, *ev_stop, *ev_sigterm, *ev_sigint, *ev_sighup;
};

/* ---- service.c: the state, and what runs next ---- */
int service_stopping(const struct service *svc);
/* Every change of activity goes through here: checked (from idle, or back to it) and logged. */
void service_set_activity(struct service *svc, enum service_activity to);
/* A stop only goes forward: running, draining, cancelling. */
void service_set_run(struct service *svc, enum service_run to);
void service_kick(struct service *svc);
void service_want_full(struct service *svc);
void service_want_full_by_notify(struct service *svc, const char *why);
void service_add_timer(struct event *ev, double seconds);
void service_status(struct service *svc, const char *fmt, const char *detail);
int service_leader_open(struct service *svc);
void service_on_full_timer(evutil_socket_t fd, short what, void *arg);
void service_on_batch(evutil_socket_t fd, short what, void *arg);
void service_on_prune(evutil_socket_t fd, short what, void *arg);
void service_on_reload(evutil_socket_t fd, short what, void *arg);

/* ---- service_conns.c: the connections, kept alive ---- */
int service_conns_open(struct service *svc);
/* Closes the state connection first: a recording waiting on it ends before the evaluation
 * that feeds it (record.h). */
void service_conns_close(struct service *svc);
const char *service_conn_name(enum service_conn_id which);
/* Advice on the case schema, logged without waiting: the recommended indexes missing and the
 * empty relations with the rules they blind. At the first connection of each set of
 * connections (start, a reload that changes the database) and when a reload changes the case
 * schema; nothing while the counting connection is down (its arrival gives it). */
void service_note_contract(struct service *svc);
void service_on_notify(struct db_conn *conn, const char *channel, const char *payload,
		       void *arg);
/* At each poll while the case database is a hot standby: asks whether it still is, and
 * LISTENs once it has been promoted (its sessions go on, so no reconnect would tell). */
void service_check_standby(struct service *svc);

/* ---- service_eval.c: evaluating, recording, counting ---- */
void service_start_migration(struct service *svc);
void service_start_eval(struct service *svc);
void service_warm_up(struct service *svc);
void service_count_kick(struct service *svc);
void service_eval_retry_later(struct service *svc);

/* ---- service_delivery.c ---- */
int service_deliver_open(struct service *svc);
void service_deliver_kick(struct service *svc);
void service_deliver_stop(struct service *svc);
void service_reload_delivery(struct service *svc, int reconnect);
void service_on_deliver_timer(evutil_socket_t fd, short what, void *arg);
void service_on_blockers_timer(evutil_socket_t fd, short what, void *arg);
void service_outbox_metrics(evutil_socket_t fd, short what, void *arg);

/* ---- cmd_run.c ---- */
void service_apply_reload(struct service *svc);

/* ---- service_reload.c ---- */
/* 1: the staged configuration's case schema is being asked about (the answer kicks again, or
 * refuses the configuration); 0: apply it now. */
int service_reload_check(struct service *svc);

#endif
