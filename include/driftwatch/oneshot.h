/* oneshot: a one-shot run's evaluation: the rules on one connection, the bad-row count on
 * another and rules run ahead on a third, in one snapshot, at the same time. */
#ifndef DRIFTWATCH_ONESHOT_H
#define DRIFTWATCH_ONESHOT_H

#include "driftwatch/eval.h"

struct dw_ctx;
struct db_conn;

/* Evaluates req (a full evaluation: no child ids) on rules_conn, streaming alerts to sink, and
 * counts bad rows on count_conn in the same snapshot meanwhile (exported by the first, imported
 * by the others); when the snapshot cannot be shared, bad rows are not counted and
 * res->bad_rows_error says why. ahead_conn (may be NULL) runs ahead, in the same snapshot, the
 * rules rules_conn has not reached, from the last back (eval_ahead.c); the rules'
 * connection, done with its rules, counts bad rows count_conn has not come to.
 * cb gets the rules' result with the count merged in (res->bad, children, counted,
 * bad_rows_seconds) and res->seconds the wall time of all. The connections are connected and
 * idle; count_conn may be NULL (the rules' connection counts after the rules, and none runs
 * ahead). Returns 0 when started. */
int oneshot_eval(struct dw_ctx *ctx, struct db_conn *rules_conn, struct db_conn *count_conn,
		 struct db_conn *ahead_conn, const struct eval_request *req,
		 const struct eval_sink *sink, eval_done_cb cb, void *arg);

#endif
