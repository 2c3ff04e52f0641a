/* eval_run: one evaluation's state, private to eval.c, eval_ahead.c and eval_quality.c. */
#ifndef DRIFTWATCH_EVAL_RUN_H
#define DRIFTWATCH_EVAL_RUN_H

#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/rule.h"

struct dw_ctx;
struct dw_config;
struct config_rule;
struct alert;
struct eval_quality;

/* Rows per FETCH at most, and alerts per call of the sink. */
#define EVAL_BATCH 500
/* The bytes of rows a FETCH should bring. A child with hundreds of plans makes a row of 30 KB
 * whose facts take ten to twenty times that once parsed, and 500 such alerts at once took a dry
 * run to 81 MB. The first FETCH of a rule asks for EVAL_BATCH_FIRST rows; each next one for as
 * many as the last ones' mean size fits in EVAL_BATCH_BYTES, between EVAL_BATCH_MIN and
 * EVAL_BATCH. */
#define EVAL_BATCH_BYTES (128 * 1024)
#define EVAL_BATCH_FIRST 64
#define EVAL_BATCH_MIN 4

/* A statement waits for a lock at most 1/EVAL_LOCK_SHARE of what is left of the evaluation's
 * time (eval_lock_timeout_ms), and never less than EVAL_LOCK_MIN_MS. */
#define EVAL_LOCK_SHARE 4
#define EVAL_LOCK_MIN_MS 100

/* Each rule runs inside this savepoint, so one that fails leaves the snapshot usable. */
#define EVAL_SAVEPOINT "dw_rule"
#define EVAL_CURSOR "dw_rows"

enum eval_step {
	EVAL_BEGIN, EVAL_SETUP, EVAL_SINK_BEGIN, EVAL_RULE, EVAL_RULE_ROWS, EVAL_RULE_SINK,
	EVAL_RULE_END, EVAL_QUALITY, EVAL_QUALITY_WAIT, EVAL_STEAL, EVAL_AHEAD, EVAL_LEND,
	EVAL_COMMIT, EVAL_ROLLBACK
};


/* A rule a helping run (eval_request.help) runs ahead on its own connection, into a cursor of
 * its own in the same snapshot, for the helped run to read in its turn. */
enum eval_ahead_state { EVAL_AHEAD_NONE, EVAL_AHEAD_RUNNING, EVAL_AHEAD_READY, EVAL_AHEAD_FAILED };

struct eval_ahead {
	enum eval_ahead_state state;
	PGresult *first;         /* READY: its first rows (the statement's work is done) */
	char *error;             /* FAILED: why, as the rule's own error */
	int cancelled;           /* FAILED: the server cancelled it (lockwait_cancelled) */
};

struct eval_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct eval_sink sink;
	eval_done_cb cb;
	void *cb_arg;
	struct eval_result *res;
	enum eval_step step;
	int waiting;             /* the sink owes an eval_continue */
	unsigned long session;   /* the database session the snapshot lives in */
	size_t rule_i;           /* index into cfg->rules of the rule in flight */
	char *case_ident;        /* escaped case schema identifier */
	char *as_of_req;         /* --as-of, or NULL */
	char *kids;              /* text[] literal of the child ids, or NULL for everyone */
	char *timeout;           /* statement_timeout for the snapshot, e.g. "300s" */
	char *sql;               /* the statement in flight, owned here */
	char *cats;              /* $4 of the rule in flight */
	char *opts;              /* $5 of the rule in flight */
	int skip_rules;
	int count_bad_rows;      /* a full evaluation not told to skip them */
	int export_snapshot;
	int lookup;              /* the rules run their lookup form (eval_take_lookup) */
	char *snapshot;          /* exported (or imported) snapshot name, or NULL */
	/* The rows of the rule in flight turned into alerts, fed to the sink EVAL_BATCH at a time. */
	struct alert *batch;
	size_t n_batch;
	size_t fed;              /* alerts of batch the sink has taken */
	int more_rows;           /* the cursor may hold more rows */
	int fetch_n;             /* rows the next FETCH asks for */
	char *rule_error;        /* why the rule in flight failed, or NULL */
	char err_where[768];     /* eval_error_where's text: a server error and what the rule reads */
	int rule_cancelled;      /* ... the server cancelled it: a lock in the way is named */
	struct timespec t0;
	struct timespec t_step;  /* when the rules, or the bad-row count, began */
	struct timespec t_rule;  /* when the rule in flight began: its time is logged */
	struct eval_quality *quality;  /* the bad-row count in progress, or NULL */
	/* The rule in flight's connection, cursor and savepoint: the run's own, or the helper's
	 * when the helper ran it ahead (ahead_rule). */
	struct db_conn *rconn;
	char cursor[32];
	char savepoint[32];
	int ahead_rule;
	int ahead_wait;          /* it waits for the helper's first rows */
	/* Runs in one snapshot (oneshot.c): one runs ahead the rules the evaluating run has not
	 * reached, from the last back (the helper); another counts bad rows (the counter), and
	 * the evaluating run, done with its rules, counts those the counter has not come to. */
	struct eval_run *helper; /* (helped run) the run lending its connection, or NULL */
	struct eval_run *helped; /* (helper) the run it lends its connection to, or NULL */
	struct eval_ahead ahead[RULE_REGISTRY_MAX];  /* (helped run) per rule */
	size_t ahead_from;       /* (helped run) rules from here on are the helper's */
	size_t ahead_i;          /* (helper) the rule it runs ahead */
	int lent;                /* (helper) a failure of its own fails nothing but its help */
	struct eval_run *counter;      /* (helped run) the run counting bad rows, or NULL */
	struct eval_run *counted_for;  /* (counter) the run that may count some for it, or NULL */
	size_t steal_k;          /* (helped) the relation whose bad rows it counts for the counter */
	int steal_failed;        /* (helped) ... and that count failed: its savepoint is undone */
	int steal_wait;          /* (helped) its rules are read; it waits for the counter to begin */
	int helper_begin_wait;   /* (helped) its rules are read; it waits for the helper to begin */
};

/* The parameters of every rule statement and bad-row count, in the order rules/params.sql
 * declares them (embed_sql.sh numbers them so; test_eval_sql checks that the names agree). */
enum eval_param {
	EVAL_P_AS_OF, EVAL_P_CHILD_IDS, EVAL_P_TIME_ZONE, EVAL_P_NEGLECT_CATEGORIES, EVAL_P_OPTIONS,
	EVAL_P_RULE, EVAL_P_COUNT
};

/* eval.c: the run, its rules and its transaction */
void eval_next(struct eval_run *run);
void eval_fail(struct eval_run *run, const char *fmt, const char *detail);
char *eval_first_line(const char *fmt, const char *detail);
const char *eval_result_error(struct db_conn *conn, PGresult *pg, ExecStatusType want);
double eval_elapsed(const struct timespec *t0);
double eval_budget_left(const struct eval_run *run);
/* How long the rule about to start may run: what is left of the budget, never less than a
 * share of it (eval.c). */
double eval_rule_time_left(const struct eval_run *run);
long eval_lock_timeout_ms(double left_s);
/* err, a server error of rule rc, with the relations rc reads when err names none (in
 * run->err_where); else err itself. */
const char *eval_error_where(struct eval_run *run, const struct config_rule *rc,
			     const PGresult *pg, const char *err);
char *eval_options_json(const struct config_rule *rc);
int eval_send(struct eval_run *run, const char *rule_name, const char *cats, const char *opts,
	      db_result_cb cb);
const struct config_rule *eval_rule(const struct eval_run *run);
void eval_on_rows(struct db_conn *conn, PGresult *pg, void *arg);
void eval_rule_over(struct eval_run *run);
void eval_run_rule_own(struct eval_run *run);
void eval_rules_end(struct eval_run *run);

/* eval_ahead.c: rules run ahead on another connection */
void eval_ahead_reset(struct eval_ahead *a);
void eval_ahead_take(struct eval_run *run);
void eval_ahead_next(struct eval_run *h);
void eval_unlink(struct eval_run *run);

/* eval_quality.c: the bad-row count, and the bad rows the evaluating run counts for it */
void eval_run_quality(struct eval_run *run);
void eval_quality_free(struct eval_quality *q);
void eval_counter_unlink(struct eval_run *run);
void eval_steal_next(struct eval_run *m);

#endif
