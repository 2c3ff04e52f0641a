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
	int db_up;                                   /* 1 while the database connection is usable */
	time_t eval_running_since;                   /* the evaluation in flight began; 0: none */
	time_t deliver_waiting_since;                /* the outbox statement in flight was sent (or
						      * the one before it answered); 0: none */
	int stall_s;                                 /* health.stall_seconds */
	char eval_blocked[320];                      /* past stall_s: who the evaluation's and */
	char record_blocked[320];                    /* the recording's sessions wait for ("" */
						     /* not asked or not answered yet) */
	char db_error[256];                          /* why it is not */
	time_t started;
};

/* This instance stopped evaluating (it lost the leader lock): the figures that describe the
 * case data as its latest evaluation saw it (alerts by rule and stage, each rule failing or not
 * and why, the children and bad rows counted) are no longer news, and the instance now leading
 * reports its own. They are cleared, so neither /metrics nor /healthz repeats them; counters and
 * the time of the last good evaluation stay. */
void metrics_leader_lost(struct dw_metrics *m);

#endif
