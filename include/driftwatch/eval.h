/* eval: one evaluation of every enabled rule, for the whole population or a set of children. */
#ifndef DRIFTWATCH_EVAL_H
#define DRIFTWATCH_EVAL_H

#include <stddef.h>

#include "driftwatch/rule.h"

struct dw_ctx;
struct dw_config;
struct db_conn;
struct alert;
struct config_rule;
struct eval_run;

struct eval_bad_rows {
	char *kind;           /* "RELATION.kind", e.g. "cp_plans.end_before_start" */
	long long count;
};

/* What became of one rule. A rule that failed fails alone: the others run in the same snapshot
 * (each rule in a savepoint of its own), and what it had already yielded is given up. */
enum eval_rule_status { EVAL_RULE_DISABLED, EVAL_RULE_OK, EVAL_RULE_FAILED };

struct eval_rule_result {
	enum eval_rule_status status;
	char *error;                    /* EVAL_RULE_FAILED: what went wrong, first line only */
	size_t n_alerts;
	size_t by_stage[RULE_MAX_STAGES];
};

struct eval_result {
	char as_of[11];                 /* the evaluation day T, YYYY-MM-DD */
	size_t n_alerts;                /* of the rules that ran to the end */
	/* per rule, in configuration (registry) order */
	struct eval_rule_result rules[RULE_REGISTRY_MAX];
	size_t n_rules_failed;
	struct eval_bad_rows *bad;
	size_t n_bad;
	int counted;                    /* bad rows and children were counted (quality.sql ran) */
	char *bad_rows_error;           /* why they could not be counted, or NULL */
	char *bad_rows_uncounted;       /* the relations whose bad rows could not be counted
					 * ("strategies, teams"), or NULL: "none" is not said for them */
	long long children;             /* distinct children in the evaluated population */
	size_t used_fallback;           /* alerts with a role sent to the fallback address */
	size_t unroutable;              /* alerts with a role that had no address at all */
	size_t repaired_text;           /* values that were not UTF-8, shown with U+FFFD */
	double seconds;                 /* BEGIN to COMMIT */
	double rules_seconds;           /* the rule statements alone */
	double bad_rows_seconds;        /* quality.sql alone (0 when not counted) */
	char *error;                    /* NULL unless the evaluation as a whole failed */
};

struct eval_request {
	const char *as_of;              /* YYYY-MM-DD, or NULL for today in the configured zone */
	const char *const *child_ids;   /* NULL = whole population */
	size_t n_child_ids;
	/* A full evaluation counts bad rows after the rules unless told not to; the daemon counts
	 * them on a connection of their own so that alerts never wait for the count. */
	int skip_rules;
	int skip_bad_rows;
	/* Export the snapshot (eval_snapshot gives its name once the sink's begin is called), so
	 * that a second evaluation on another connection can count bad rows in the same snapshot
	 * at the same time: on two cores that halves a one-shot run. */
	int export_snapshot;
	/* Run in this exported snapshot (another evaluation's eval_snapshot) instead of a new one;
	 * as_of must then be that evaluation's T. */
	const char *snapshot;
	/* With snapshot and skip_rules, help that evaluation (the one that exported snapshot,
	 * still running; eval_ahead.c and eval_quality.c):
	 * counting bad rows, it lets help count those of relations it has not come to once help's
	 * rules are read; with skip_bad_rows too, it runs ahead on its connection the rules help
	 * has not reached, from the last back, for help to read in its turn, and commits once help
	 * is done with them. */
	struct eval_run *help;
};

/* How a sink lets the evaluation go on after each of its calls. */
enum eval_next {
	EVAL_NEXT_GO_ON,        /* ready for more */
	EVAL_NEXT_RULE_FAILED,  /* the sink could not take this rule's alerts: the rule fails */
	EVAL_NEXT_ABORT         /* the sink is broken (its connection went): stop everything */
};

/* Where the alerts go as they stream, a batch at a time, so that no evaluation ever holds
 * them all. Each call must be answered by exactly one eval_continue(run, ...), then or later
 * (a sink writing to another connection answers from that query's callback); until then the
 * evaluation waits and the batch stays valid. Any member may be NULL (answered EVAL_NEXT_GO_ON). */
struct eval_sink {
	/* T is known (after the first statement), before any rule runs. */
	void (*begin)(void *arg, struct eval_run *run, const char *as_of);
	/* Up to a batch of one rule's alerts; the sink must not keep pointers into them. */
	void (*alerts)(void *arg, struct eval_run *run, const struct config_rule *rc,
		       struct alert *alerts, size_t n);
	/* The rule ended: error NULL when it ran to its end, else why it failed. */
	void (*rule_end)(void *arg, struct eval_run *run, const struct config_rule *rc,
			 const char *error);
	void *arg;
};

/* The sink's answer to its latest call; error (may be NULL) says why for EVAL_NEXT_RULE_FAILED
 * and EVAL_NEXT_ABORT. */
void eval_continue(struct eval_run *run, enum eval_next next, const char *error);

/* The name of the exported snapshot (eval_request.export_snapshot), from the sink's begin on,
 * while the evaluation runs; NULL when none was exported. */
const char *eval_snapshot(const struct eval_run *run);

/* Called once when the evaluation ended; the callee owns res (eval_result_free). */
typedef void (*eval_done_cb)(struct eval_result *res, void *arg);

/* Starts an evaluation on conn (connected, idle). Every rule runs in one read-only
 * repeatable-read transaction, so all rules see one snapshot; a full evaluation reads each
 * rule's rows through a cursor, a batch at a time. sink may be NULL (nothing but counts).
 * Returns 0 if started. */
int eval_start(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_request *req,
	       const struct eval_sink *sink, eval_done_cb cb, void *arg);

void eval_result_free(struct eval_result *res);

/* Names of the failed rules, ", "-separated, malloc'd ("" when none); NULL if out of memory. */
char *eval_failed_rules(const struct dw_config *cfg, const struct eval_result *res);

/* The forms rules/embed_sql.sh makes of a rule's statement. The incremental one (child ids
 * given, prepared once per session, generic plans) has every ":child_ids IS NULL" false, so
 * its plan reads only the given children through the (child_id, ...) indexes. The lookup one is
 * the full one with its hits' children and allocations (and a few other sets' rows) looked
 * up by index instead of read whole: run only while EVAL_LOOKUP_RELATIONS are tables with an
 * index that serves. */
enum eval_form { EVAL_FORM_FULL, EVAL_FORM_INCREMENTAL, EVAL_FORM_LOOKUP };

/* The relations a rule's "-- @lookup REL" lines may name (rules/embed_sql.sh allows the same):
 * the lookup form runs only while every one of them has an index that serves. */
#define EVAL_LOOKUP_RELATIONS "{children,allocations,appointments,referrals}"

/* One rule's statement (rules/NAME.sql, whole; docs/internals.md) in a form, for the escaped
 * case schema. malloc'd; NULL when out of memory. */
char *eval_rule_sql(const char *case_ident, const struct rule_def *def, enum eval_form form,
		    unsigned withheld);

/* The names of the parameters every rule statement and bad-row count is sent, in order
 * (rules/params.sql declares them so), NULL-terminated. */
extern const char *const eval_param_names[];

#endif
