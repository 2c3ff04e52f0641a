/* cmd_dry_run: evaluate once, print each alert as a JSON line and a summary; change nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/alert.h"
#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/oneshot.h"
#include "driftwatch/report.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

/* Three connections: the rules stream on one while another counts bad rows and a third runs
 * rules ahead, in the same snapshot (oneshot.h). The third is made once the other two are up,
 * and the run goes on without it when it cannot be (a role's connection limit). */
struct dry_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct db_conn *count_conn;
	struct db_conn *ahead_conn;
	int ahead_up;           /* the third connection could be made */
	int connecting;
	const char *as_of;
	struct eval_result *res;
	int write_failed;       /* standard output would not take a line */
};

/* Alerts arrive rule by rule (registry order), each rule's ordered by child_id in byte order,
 * at most one per child: the output is stable, and two dry runs compare with diff. */
static void dry_run_alerts(void *arg, struct eval_run *run, const struct config_rule *rc,
			   struct alert *alerts, size_t n)
{
	struct dry_run *dr = arg;
	struct strbuf sb;

	(void)rc;
	strbuf_init(&sb);
	for (size_t i = 0; i < n && !dr->write_failed; i++) {
		strbuf_truncate(&sb, 0);
		if (alert_json_write(&sb, &alerts[i], "firing", 1) < 0 || sb.failed ||
		    fwrite(sb.buf, 1, sb.len, stdout) != sb.len || putchar('\n') == EOF)
			dr->write_failed = 1;
	}
	strbuf_free(&sb);
	if (dr->write_failed) {
		eval_continue(run, EVAL_NEXT_ABORT, "could not write an alert to standard output");
		return;
	}
	eval_continue(run, EVAL_NEXT_GO_ON, NULL);
}

static void dry_run_on_eval(struct eval_result *res, void *arg)
{
	struct dry_run *dr = arg;

	dr->res = res;
	event_base_loopbreak(dr->ctx->base);
}

static void dry_run_start(void *arg)
{
	struct dry_run *dr = arg;
	struct eval_request req = { .as_of = dr->as_of };
	struct eval_sink sink = { .alerts = dry_run_alerts, .arg = dr };

	if (oneshot_eval(dr->ctx, dr->conn, dr->count_conn, dr->ahead_up ? dr->ahead_conn : NULL,
			 &req, &sink, dry_run_on_eval, dr) < 0) {
		log_err(dr->ctx, "could not start the evaluation: out of memory");
		event_base_loopbreak(dr->ctx->base);
	}
}

static void dry_run_on_ahead_connect(struct db_conn *conn, int ok, void *arg)
{
	struct dry_run *dr = arg;

	dr->ahead_up = ok;
	if (!ok)
		log_warn(dr->ctx, "database (%s): a third connection, to run rules ahead, could not "
			 "be made (%s): the rules run on one", dr->ctx->cfg->path, db_error(conn));
	/* Said before the evaluation that reads the empty relations, on the counting
	 * connection; the evaluation waits for these few, whose checks must not run inside the
	 * count's transaction (contract.h). */
	if (contract_note_empty(dr->ctx, dr->count_conn, NULL, dry_run_start, dr) < 0)
		dry_run_start(dr);
}

static void dry_run_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct dry_run *dr = arg;

	if (!ok) {
		log_err(dr->ctx, "database (%s): %s", dr->ctx->cfg->path, db_error(conn));
		event_base_loopbreak(dr->ctx->base);
		return;
	}
	if (--dr->connecting > 0)
		return;
	if (db_connect(dr->ahead_conn, dry_run_on_ahead_connect, dr) < 0)
		dry_run_on_ahead_connect(dr->ahead_conn, 0, dr);
}

/* 0 when every rule ran; 1 when the evaluation or any rule failed (after doing all it could). */
static int dry_run_status(struct dry_run *dr)
{
	const struct dw_config *cfg = dr->ctx->cfg;
	char *failed;

	if (!dr->res)
		return 1;
	if (dr->res->error) {
		log_err(dr->ctx, "evaluation failed: %s", dr->res->error);
		return 1;
	}
	if (fflush(stdout) != 0 || dr->write_failed)
		return 1;
	report_evaluation(stderr, cfg, dr->res);
	if (dr->res->n_rules_failed == 0)
		return 0;
	failed = eval_failed_rules(cfg, dr->res);
	log_err(dr->ctx, "%zu rule%s failed: %s", dr->res->n_rules_failed,
		dr->res->n_rules_failed == 1 ? "" : "s", failed ? failed : "?");
	free(failed);
	return 1;
}

int cmd_dry_run(struct dw_ctx *ctx, const char *as_of)
{
	struct dry_run dr = { ctx, NULL, NULL, NULL, 0, 2, as_of, NULL, 0 };
	struct db_conn **conns[3] = { &dr.conn, &dr.count_conn, &dr.ahead_conn };
	int status, started = 1;

	for (int i = 0; i < 3 && started; i++) {
		*conns[i] = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
		if (!*conns[i]) {
			log_err(ctx, "out of memory");
			started = 0;
			break;
		}
		db_set_query_timeout(*conns[i], ctx->cfg->query_timeout_s + 10);
		if (conns[i] == &dr.ahead_conn)
			continue;  /* once the others are up (dry_run_on_connect) */
		if (db_connect(*conns[i], dry_run_on_connect, &dr) < 0) {
			log_err(ctx, "database (%s): %s", ctx->cfg->path, db_error(*conns[i]));
			started = 0;
		}
	}
	if (started)
		event_base_dispatch(ctx->base);
	status = dry_run_status(&dr);
	db_conn_free(dr.ahead_conn);
	db_conn_free(dr.count_conn);
	db_conn_free(dr.conn);
	eval_result_free(dr.res);
	return status;
}
