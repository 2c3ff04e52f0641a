/* schedule: what the daemon does next, decided from its state alone (pure, unit-tested). */
#ifndef DRIFTWATCH_SCHEDULE_H
#define DRIFTWATCH_SCHEDULE_H

#include <time.h>

/* What the daemon knows when something happened (a timer, an answer, a notification). */
struct schedule_in {
	int stopping;           /* a stop is under way: start nothing */
	int busy;               /* an evaluation, migration, warm-up or pruning holds the state
				 * connection */
	int reload;             /* a good new configuration waits */
	int conns_up;           /* the evaluation and state connections are usable */
	int retry_waiting;      /* a failure is being waited out (its timer is pending) */
	int listen_answered;    /* the LISTEN of this session has been answered, or failed */
	int listen_tried;       /* the notification connection has been tried at least once */
	int migrated;           /* the state schema is at this daemon's version */
	int leading;            /* this instance holds the evaluation lock */
	int full_pending;       /* everyone is to be evaluated */
	int full_by_notify;     /* ... and only NOTIFY asked for it */
	double since_full;      /* seconds since the latest full evaluation began; < 0: never */
	double notify_gap;      /* the least time between full evaluations NOTIFY asks for */
	unsigned long pending;  /* notified children waiting */
	int warm;               /* the incremental statements are prepared in this session */
};

enum schedule_action {
	SCHEDULE_NOTHING,       /* nothing is due, or it must wait (see the reason) */
	SCHEDULE_RELOAD,        /* apply the new configuration */
	SCHEDULE_MIGRATE,       /* bring the state schema to this version */
	SCHEDULE_DROP_PENDING,  /* another instance evaluates: forget the notified children */
	SCHEDULE_WAIT_GAP,      /* a full evaluation waits out the NOTIFY gap (schedule_gap_left) */
	SCHEDULE_FULL,          /* evaluate everyone */
	SCHEDULE_INCREMENTAL,   /* evaluate the notified children */
	SCHEDULE_WARM           /* prepare the incremental statements while nothing waits */
};

/* The next thing to do. One thing at a time runs on the state connection, and a reload waits
 * only for that (deliveries and the bad-row count never hold it). At start, evaluations wait
 * for the LISTEN's first answer, or the first full evaluation would be followed at once by the
 * one that answer asks for. */
enum schedule_action schedule_decide(const struct schedule_in *in);

/* The action's name, for debug logs. */
const char *schedule_action_name(enum schedule_action a);

/* Seconds a full evaluation asked for by NOTIFY still waits (0: none). */
double schedule_gap_left(const struct schedule_in *in);

/* The pause before retrying a failure: min at first, doubling up to max. */
int schedule_backoff(int previous_s, int min_s, int max_s);

#endif
