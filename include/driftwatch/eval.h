/* eval: one evaluation of every enabled rule, for the whole population or a set of children. */
#ifndef DRIFTWATCH_EVAL_H
#define DRIFTWATCH_EVAL_H

#include <stddef.h>

#include "driftwatch/rule.h"

struct dw_ctx;
struct db_conn;
struct alert;

struct eval_bad_rows {
	char *kind;           /* "RELATION.kind", e.g. "cp_plans.end_before_start" */
	long long count;
};

struct eval_result {
	char as_of[11];                 /* the evaluation day T, YYYY-MM-DD */
	struct alert *alerts;
	size_t n_alerts;
	size_t cap_alerts;
	size_t by_stage[RULE_REGISTRY_MAX][RULE_MAX_STAGES];
	struct eval_bad_rows *bad;
	size_t n_bad;
	int counted;                    /* bad rows and children were counted (quality.sql ran) */
	long long children;             /* distinct children in the evaluated population */
	size_t used_fallback;           /* alerts with a role sent to the fallback address */
	size_t unroutable;              /* alerts with a role that had no address at all */
	double seconds;                 /* BEGIN to COMMIT */
	double rules_seconds;           /* the rule statements alone */
	double bad_rows_seconds;        /* quality.sql alone (0 when not counted) */
	char *error;                    /* NULL on success; what failed and where */
};

struct eval_request {
	const char *as_of;              /* YYYY-MM-DD, or NULL for today in the configured zone */
	const char *const *child_ids;   /* NULL = whole population */
	size_t n_child_ids;
	/* A full evaluation counts bad rows after the rules unless told not to; the daemon counts
	 * them on a connection of their own so that alerts never wait for the count. */
	int skip_rules;
	int skip_bad_rows;
};

/* Called once when the evaluation ended; the callee owns res (eval_result_free). */
typedef void (*eval_done_cb)(struct eval_result *res, void *arg);

/* Starts an evaluation on conn (connected, idle). Every rule runs in one read-only
 * repeatable-read transaction, so all rules see one snapshot. Returns 0 if started. */
int eval_start(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_request *req,
	       eval_done_cb cb, void *arg);

void eval_result_free(struct eval_result *res);

/* One rule's statement (docs/internals.md): common.sql + the rule + alert_rows.sql for the
 * escaped case schema. The incremental form (child ids given, prepared once per session,
 * generic plans) has every "$2::text[] IS NULL OR" of common.sql replaced by "false OR", so
 * its plan reads only the given children through the (child_id, ...) indexes. malloc'd; NULL
 * when out of memory. */
char *eval_rule_sql(const char *case_ident, const struct rule_def *def, int incremental);

#endif
