/* oneshot: a one-shot run's evaluation: the rules on one connection and the bad-row count on
 * another, in one snapshot, at the same time. */
#ifndef DRIFTWATCH_ONESHOT_H
#define DRIFTWATCH_ONESHOT_H

#include "driftwatch/eval.h"

struct dw_ctx;
struct db_conn;

/* Evaluates req (a full evaluation: no child ids) on rules_conn, streaming alerts to sink, and
 * counts bad rows on count_conn in the same snapshot meanwhile (exported by the first, imported
 * by the second); when the snapshot cannot be shared, bad rows are not counted and
 * res->bad_rows_error says why.
 * cb gets the rules' result with the count merged in (res->bad, children, counted,
 * bad_rows_seconds) and res->seconds the wall time of both. Both connections are connected and
 * idle; count_conn may be NULL (the rules' connection counts after the rules). Returns 0 when
 * started. */
int oneshot_eval(struct dw_ctx *ctx, struct db_conn *rules_conn, struct db_conn *count_conn,
		 const struct eval_request *req, const struct eval_sink *sink, eval_done_cb cb,
		 void *arg);

#endif
