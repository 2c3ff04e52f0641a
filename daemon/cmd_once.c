/* cmd_once: one evaluation recorded into the alert state, then one delivery pass, then exit. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/report.h"
#include "driftwatch/state.h"

#define ONCE_MAX_TRANSFERS 16

struct once_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct curl_loop *loop;
	struct deliver *deliver;
	const char *as_of;
	struct eval_result *res;
	int status;
};

static void once_stop(struct once_run *run, int status)
{
	run->status = status;
	event_base_loopbreak(run->ctx->base);
}

static void once_on_delivered(const struct deliver_stats *st, const char *error, void *arg)
{
	struct once_run *run = arg;

	fprintf(stderr, "  delivery: %zu notices due, %zu delivered (%zu emails), %zu to retry, "
		"%zu failed\n", st->claimed, st->delivered, st->emails_sent, st->retried, st->failed);
	if (error)
		log_err(run->ctx, "delivery: %s", error);
	once_stop(run, error ? 1 : 0);
}

static void once_deliver(struct once_run *run)
{
	char err[512];

	run->deliver = deliver_new(run->ctx, run->conn, run->loop, err, sizeof(err));
	if (!run->deliver) {
		log_err(run->ctx, "delivery: %s", err);
		once_stop(run, 2);
		return;
	}
	if (deliver_pass(run->deliver, once_on_delivered, run) < 0) {
		log_err(run->ctx, "delivery: could not start: %s", db_error(run->conn));
		once_stop(run, 1);
	}
}

static void once_on_recorded(int ok, const char *error, const struct state_changes *ch,
			     void *arg)
{
	struct once_run *run = arg;
	struct eval_result *res = run->res;

	if (!ok) {
		log_err(run->ctx, "%s", error);
		once_stop(run, 1);
		return;
	}
	report_evaluation(stderr, run->ctx->cfg, res);
	fprintf(stderr, "  changes: %lld new, %lld escalated, %lld updated, %lld resolved, "
		"%lld reminders; notices: %lld email, %lld webhook\n", ch->firing, ch->escalated,
		ch->updated, ch->resolved, ch->reminders, ch->email_notices, ch->webhook_notices);
	/* The alerts are in the outbox now: delivery reads them from there. */
	eval_result_free(res);
	run->res = NULL;
	once_deliver(run);
}

static void once_on_eval(struct eval_result *res, void *arg)
{
	struct once_run *run = arg;
	struct eval_request req = { .as_of = run->as_of };

	run->res = res;
	if (res->error) {
		log_err(run->ctx, "evaluation failed: %s", res->error);
		once_stop(run, 1);
		return;
	}
	if (state_record(run->ctx, run->conn, res, &req, once_on_recorded, run) < 0) {
		log_err(run->ctx, "could not record the evaluation: %s", db_error(run->conn));
		once_stop(run, 1);
	}
}

static void once_on_migrated(int ok, const char *error, void *arg)
{
	struct once_run *run = arg;
	struct eval_request req = { .as_of = run->as_of };

	if (!ok) {
		log_err(run->ctx, "%s", error);
		once_stop(run, 1);
		return;
	}
	if (eval_start(run->ctx, run->conn, &req, once_on_eval, run) < 0) {
		log_err(run->ctx, "could not start the evaluation: out of memory");
		once_stop(run, 1);
	}
}

static void once_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct once_run *run = arg;

	if (!ok) {
		log_err(run->ctx, "database (%s: database.conninfo): %s", run->ctx->cfg->path,
			db_error(conn));
		once_stop(run, 1);
		return;
	}
	if (state_migrate(run->ctx, conn, once_on_migrated, run) < 0) {
		log_err(run->ctx, "could not start the state migration: %s", db_error(conn));
		once_stop(run, 1);
	}
}

int cmd_once(struct dw_ctx *ctx, const char *as_of)
{
	struct once_run run = { ctx, NULL, NULL, NULL, as_of, NULL, 1 };

	run.conn = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	run.loop = curl_loop_new(ctx->base, ONCE_MAX_TRANSFERS);
	if (!run.conn || !run.loop) {
		log_err(ctx, "out of memory");
	} else {
		db_set_query_timeout(run.conn, ctx->cfg->query_timeout_s + 10);
		if (db_connect(run.conn, once_on_connect, &run) < 0)
			log_err(ctx, "database (%s: database.conninfo): %s", ctx->cfg->path,
				db_error(run.conn));
		else
			event_base_dispatch(ctx->base);
	}
	/* The loop goes first: cancelled transfers report into the deliverer, which must live. */
	curl_loop_free(run.loop);
	deliver_free(run.deliver);
	eval_result_free(run.res);
	db_conn_free(run.conn);
	return run.status;
}
