/* metrics: the daemon's figures, kept in the context and read by /metrics and /healthz. */
#ifndef DRIFTWATCH_METRICS_H
#define DRIFTWATCH_METRICS_H

#include <stddef.h>
#include <time.h>

#include "driftwatch/rule.h"

#define METRICS_MAX_BAD_KINDS 96
#define METRICS_RESPONSE_KINDS 3   /* enum responses_kind */

struct metrics_bad_kind {
	char kind[64];                  /* "relation.kind" */
	long long count;
};

/* The outbox as last counted (a query after each delivery pass and each evaluation). */
struct metrics_outbox {
	long long pending[2];           /* [0] email, [1] webhook: pending or delivering */
	long long due[2];               /* of those, the ones first due by now (not held for a
					 * digest slot or a report's wait) */
	long long delivered[2];
	long long failed[2];
	double oldest_pending_age_s;    /* since first due; 0 when nothing due waits */
};

/* Whom a session of this daemon waits for, asked once it has waited past health.stall_seconds
 * (service_blockers.c): the text holds for the wait that began at since (eval_running_since
 * for the evaluation and the recording, deliver_waiting_since for the delivery), no other. */
enum metrics_blocked_id { METRICS_BLOCKED_EVAL, METRICS_BLOCKED_RECORD, METRICS_BLOCKED_DELIVER,
			  METRICS_BLOCKED_N };

struct metrics_blocked {
	time_t since;
	char text[320];
};

struct dw_metrics {
	unsigned long long evaluations_total;        /* finished, good or not */
	unsigned long long evaluations_failed_total;
	unsigned long long incremental_total;        /* evaluations of notified children only */
	double eval_seconds_sum;
	double last_eval_seconds;
	time_t last_good_eval;                       /* unix time; 0 = never */
	int last_eval_ok;                            /* 1 when the latest evaluation succeeded */
	char last_eval_error[256];                   /* why the latest failed */
	long long children_evaluated;                /* by the latest full evaluation */
	/* alerts holding after the latest full evaluation, by rule and stage (registry order) */
	long long alerts[RULE_REGISTRY_MAX][RULE_MAX_STAGES];
	/* per rule (registry order): evaluations in which it failed, whether it failed in the
	 * latest one that ran it, and why (first line) */
	unsigned long long rule_failures_total[RULE_REGISTRY_MAX];
	int rule_failing[RULE_REGISTRY_MAX];
	char rule_error[RULE_REGISTRY_MAX][400];
	/* web.listen: why the pages, the API or the links do not work as configured ("" when
	 * they do): /healthz says so, degraded */
	char web_problem[400];
	unsigned long long repaired_text_total;      /* values shown with U+FFFD (not UTF-8) */
	struct metrics_bad_kind bad[METRICS_MAX_BAD_KINDS];
	size_t n_bad;
	struct metrics_outbox outbox;
	unsigned long long deliveries_total[2];      /* attempts that ended delivered [email, webhook] */
	unsigned long long deliveries_failed_total;  /* notices that failed for good */
	unsigned long long db_reconnects_total;
	/* responses recorded through the links and the API, by enum responses_kind
	 * (acknowledged, snoozed, unsnoozed) */
	unsigned long long responses_total[METRICS_RESPONSE_KINDS];
	/* alert.unanswered events queued, by rule and stage (registry order) */
	unsigned long long unanswered_total[RULE_REGISTRY_MAX][RULE_MAX_STAGES];
	int leading;                                 /* 1 while this instance holds the leader
						      * lock and evaluates */
	int standby;                                 /* 1 while another instance holds it: this one
						      * delivers and waits to take over */
	int db_up;                                   /* 1 while the database connection is usable */
	time_t eval_running_since;                   /* the evaluation in flight began; 0: none */
	time_t deliver_waiting_since;                /* the outbox statement in flight was sent (or
						      * the one before it answered); 0: none */
	int stall_s;                                 /* health.stall_seconds */
	struct metrics_blocked blocked[METRICS_BLOCKED_N]; /* past stall_s: whom they wait for */
	char db_error[256];                          /* why it is not */
	time_t started;
};

/* This instance stopped evaluating (it lost the leader lock): the figures that describe the
 * case data as its latest evaluation saw it (alerts by rule and stage, each rule failing or not
 * and why, the children and bad rows counted) are no longer news, and the instance now leading
 * reports its own. They are cleared, so neither /metrics nor /healthz repeats them; counters and
 * the time of the last good evaluation stay. */
void metrics_leader_lost(struct dw_metrics *m);

/* When the wait that blocked[id] is about began (0: none now). */
time_t metrics_blocked_since(const struct dw_metrics *m, enum metrics_blocked_id id);

/* Whom that wait is for, as /healthz says it; "" when not asked or answered for this wait. */
const char *metrics_blocked_text(const struct dw_metrics *m, enum metrics_blocked_id id);

#endif
