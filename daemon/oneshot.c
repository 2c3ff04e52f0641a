/* oneshot: a one-shot run's connections share a snapshot: bad rows, rules ahead, the rules. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/oneshot.h"

struct oneshot {
	struct dw_ctx *ctx;
	struct db_conn *count_conn;
	struct db_conn *ahead_conn;
	struct eval_request rules_req;
	struct eval_sink sink;         /* the caller's */
	eval_done_cb cb;
	void *arg;
	struct eval_result *rules;     /* when the rules ended */
	struct eval_result *count;     /* when the count ended */
	int counting;                  /* the count runs on count_conn */
	int ahead;                     /* rules run ahead on ahead_conn */
	struct timespec t0;
};

static double oneshot_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The count's figures move into the rules' result; its failure is the count's only. */
static void oneshot_merge(struct eval_result *into, struct eval_result *count)
{
	if (count->error && !into->bad_rows_error) {
		into->bad_rows_error = count->error;
		count->error = NULL;
		return;
	}
	into->bad = count->bad;
	into->n_bad = count->n_bad;
	count->bad = NULL;
	count->n_bad = 0;
	into->children = count->children;
	into->counted = count->counted;
	into->bad_rows_seconds = count->bad_rows_seconds;
	into->bad_rows_uncounted = count->bad_rows_uncounted;
	count->bad_rows_uncounted = NULL;
	if (count->bad_rows_error && !into->bad_rows_error) {
		into->bad_rows_error = count->bad_rows_error;
		count->bad_rows_error = NULL;
	}
}

static void oneshot_end(struct oneshot *o)
{
	struct eval_result *res = o->rules;
	eval_done_cb cb = o->cb;
	void *arg = o->arg;

	if (o->count) {
		oneshot_merge(res, o->count);
		eval_result_free(o->count);
	} else if (!res->error && !res->bad_rows_error) {
		res->bad_rows_error = strdup("the evaluation's snapshot could not be shared with "
					     "a second connection");
	}
	res->seconds = oneshot_elapsed(&o->t0);
	free(o);
	cb(res, arg);
}

static void oneshot_on_count(struct eval_result *res, void *arg)
{
	struct oneshot *o = arg;

	o->count = res;
	o->counting = 0;
	if (o->rules && !o->ahead)
		oneshot_end(o);
}

/* The run ahead holds no result of its own: its failures were logged and the rules it could
 * not deliver ran on the rules' connection. */
static void oneshot_on_ahead(struct eval_result *res, void *arg)
{
	struct oneshot *o = arg;

	eval_result_free(res);
	o->ahead = 0;
	if (o->rules && !o->counting)
		oneshot_end(o);
}

static void oneshot_on_rules(struct eval_result *res, void *arg)
{
	struct oneshot *o = arg;

	o->rules = res;
	if (!o->counting && !o->ahead)
		oneshot_end(o);
}

/* T is known and the snapshot exported: the count and the run ahead start in it, then the
 * rules go on. */
static void oneshot_begin(void *arg, struct eval_run *run, const char *as_of)
{
	struct oneshot *o = arg;
	struct eval_request req = { .as_of = as_of, .skip_rules = 1,
				    .snapshot = eval_snapshot(run), .help = run };
	struct eval_request ahead = req;

	ahead.skip_bad_rows = 1;
	if (req.snapshot && eval_start(o->ctx, o->count_conn, &req, NULL, oneshot_on_count,
				       o) == 0)
		o->counting = 1;
	if (req.snapshot && o->ahead_conn &&
	    eval_start(o->ctx, o->ahead_conn, &ahead, NULL, oneshot_on_ahead, o) == 0)
		o->ahead = 1;
	if (!o->sink.begin) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	o->sink.begin(o->sink.arg, run, as_of);
}

static void oneshot_alerts(void *arg, struct eval_run *run, const struct config_rule *rc,
			   struct alert *alerts, size_t n)
{
	struct oneshot *o = arg;

	if (!o->sink.alerts) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	o->sink.alerts(o->sink.arg, run, rc, alerts, n);
}

static void oneshot_rule_end(void *arg, struct eval_run *run, const struct config_rule *rc,
			     const char *error)
{
	struct oneshot *o = arg;

	if (!o->sink.rule_end) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	o->sink.rule_end(o->sink.arg, run, rc, error);
}

int oneshot_eval(struct dw_ctx *ctx, struct db_conn *rules_conn, struct db_conn *count_conn,
		 struct db_conn *ahead_conn, const struct eval_request *req,
		 const struct eval_sink *sink, eval_done_cb cb, void *arg)
{
	struct oneshot *o;
	struct eval_sink wrap = { oneshot_begin, oneshot_alerts, oneshot_rule_end, NULL };

	if (!count_conn || req->child_ids)
		return eval_start(ctx, rules_conn, req, sink, cb, arg);
	o = calloc(1, sizeof(*o));
	if (!o)
		return -1;
	o->ctx = ctx;
	o->count_conn = count_conn;
	o->ahead_conn = ahead_conn;
	o->rules_req = *req;
	o->rules_req.skip_bad_rows = 1;
	o->rules_req.export_snapshot = 1;
	if (sink)
		o->sink = *sink;
	o->cb = cb;
	o->arg = arg;
	wrap.arg = o;
	clock_gettime(CLOCK_MONOTONIC, &o->t0);
	if (eval_start(ctx, rules_conn, &o->rules_req, &wrap, oneshot_on_rules, o) < 0) {
		free(o);
		return -1;
	}
	return 0;
}
