/* cmd_dry_run: evaluate once, print each alert as a JSON line and a summary; change nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/alert.h"
#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/report.h"
#include "driftwatch/rule.h"

struct dry_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	const char *as_of;
	struct eval_result *res;
	int status;
};

static size_t rule_position(const struct rule_def *def)
{
	for (size_t i = 0; i < rule_registry_count(); i++)
		if (rule_registry_get(i) == def)
			return i;
	return 0;
}

static int str_cmp_null(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* Stable output (rule, child, subject) so two dry runs can be compared with diff. */
static int alert_order(const void *pa, const void *pb)
{
	const struct alert *a = pa, *b = pb;
	size_t ra = rule_position(a->rule), rb = rule_position(b->rule);
	int c;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	c = strcmp(a->child_id, b->child_id);
	return c ? c : str_cmp_null(a->subject_id, b->subject_id);
}

static int print_alerts(struct eval_result *res)
{
	if (res->n_alerts > 1)
		qsort(res->alerts, res->n_alerts, sizeof(res->alerts[0]), alert_order);
	for (size_t i = 0; i < res->n_alerts; i++) {
		json_t *o = alert_to_json(&res->alerts[i], "firing");
		char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

		json_decref(o);
		if (!line)
			return -1;
		puts(line);
		free(line);
	}
	return fflush(stdout) == 0 ? 0 : -1;
}

static void dry_run_on_eval(struct eval_result *res, void *arg)
{
	struct dry_run *dr = arg;

	dr->res = res;
	event_base_loopbreak(dr->ctx->base);
}

static void dry_run_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct dry_run *dr = arg;
	struct eval_request req = { .as_of = dr->as_of };

	if (!ok) {
		log_err(dr->ctx, "database (%s): %s", dr->ctx->cfg->path, db_error(conn));
		event_base_loopbreak(dr->ctx->base);
		return;
	}
	if (eval_start(dr->ctx, conn, &req, dry_run_on_eval, dr) < 0) {
		log_err(dr->ctx, "could not start the evaluation: out of memory");
		event_base_loopbreak(dr->ctx->base);
	}
}

int cmd_dry_run(struct dw_ctx *ctx, const char *as_of)
{
	struct dry_run dr = { ctx, NULL, as_of, NULL, 1 };

	dr.conn = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	if (!dr.conn) {
		log_err(ctx, "out of memory");
		return 1;
	}
	db_set_query_timeout(dr.conn, ctx->cfg->query_timeout_s + 10);
	if (db_connect(dr.conn, dry_run_on_connect, &dr) < 0)
		log_err(ctx, "database (%s): %s", ctx->cfg->path, db_error(dr.conn));
	else
		event_base_dispatch(ctx->base);
	if (dr.res && dr.res->error) {
		log_err(ctx, "evaluation failed: %s", dr.res->error);
	} else if (dr.res) {
		dr.status = print_alerts(dr.res) < 0 ? 1 : 0;
		report_evaluation(stderr, ctx->cfg, dr.res);
	}
	eval_result_free(dr.res);
	db_conn_free(dr.conn);
	return dr.status;
}
