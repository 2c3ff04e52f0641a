/* cmd_once: one evaluation recorded into the alert state, then one delivery pass, then exit. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/oneshot.h"
#include "driftwatch/record.h"
#include "driftwatch/report.h"
#include "driftwatch/retention.h"
#include "driftwatch/state.h"
#include "driftwatch/unanswered.h"

#define ONCE_MAX_TRANSFERS 16

/* Four connections: the case data is read under a cursor in one snapshot while the alerts are
 * recorded, a batch at a time, on another; the third counts bad rows and the fourth runs rules
 * ahead in the same snapshot meanwhile (oneshot.h). The fourth is made once the others are up,
 * and the run goes on without it when it cannot be (a role's connection limit). Delivery adds
 * one to the state's database for the email claims (deliver.h), on the same terms. */
struct once_run {
	struct dw_ctx *ctx;
	struct db_conn *cases;
	struct db_conn *state;
	struct db_conn *count;
	struct db_conn *ahead;
	struct db_conn *mail;       /* delivery's email claims */
	int ahead_up;               /* the fourth connection could be made */
	int migrated;               /* the state schema is ready (and recording made) */
	int empty_checked;          /* the counting connection is free of the emptiness checks */
	int connecting;             /* connections not yet up */
	struct curl_loop *loop;
	struct deliver *deliver;
	struct eval_request req;
	struct record *rec;
	struct eval_result *res;
	int unanswered_failed;      /* escalation failed: the run fails, its notices still go */
	int status;
};

static void once_stop(struct once_run *run, int status)
{
	run->status = status;
	event_base_loopbreak(run->ctx->base);
}

/* Everything that could be done was done; a rule that failed still makes the run fail. */
static int once_rules_status(struct once_run *run)
{
	char *failed;

	if (!run->res || run->res->n_rules_failed == 0)
		return 0;
	failed = eval_failed_rules(run->ctx->cfg, run->res);
	log_err(run->ctx, "%zu rule%s failed: %s", run->res->n_rules_failed,
		run->res->n_rules_failed == 1 ? "" : "s", failed ? failed : "?");
	free(failed);
	return 1;
}

static void once_on_pruned(long long notices, long long evaluations, const char *error,
			   void *arg)
{
	struct once_run *run = arg;

	if (error)
		log_info(run->ctx, "retention: pruning stopped (the next run goes on): %s", error);
	else if (notices || evaluations)
		fprintf(stderr, "  retention: pruned %lld delivered notices and %lld evaluations older "
			"than %d days\n", notices, evaluations, run->ctx->cfg->retention_days);
	once_stop(run, run->status);
}

/* A deployment that runs --once from a timer has no daemon to prune for it. */
static void once_prune(struct once_run *run, int status)
{
	run->status = status;
	if (retention_prune(run->ctx, run->state, once_on_pruned, run) < 0)
		once_stop(run, status);
}

static void once_on_delivered(const struct deliver_stats *st, const char *error, void *arg)
{
	struct once_run *run = arg;

	fprintf(stderr, "  delivery: %zu notices due, %zu delivered (%zu emails), %zu to retry, "
		"%zu failed\n", st->claimed, st->delivered, st->emails_sent, st->retried, st->failed);
	/* not this run's failure, and not lost: but never to be read as "everything went" */
	if (st->left_due > 0)
		log_warn(run->ctx, "delivery: %lld notice%s to %lld destination%s due when this run "
			 "began %s not sent by it: another session held them (a lock, or another "
			 "deliverer's lease), or their receiver could not be used by this run; they "
			 "stay due for the next run or the daemon", st->left_due,
			 st->left_due == 1 ? "" : "s", st->left_people,
			 st->left_people == 1 ? "" : "s", st->left_due == 1 ? "was" : "were");
	if (error)
		log_err(run->ctx, "delivery: %s", error);
	/* a notice failed for good is lost to its reader: a timer running --once must show a
	 * failed run, as the daemon's /metrics counts it; one left to retry is not lost */
	if (st->failed)
		log_err(run->ctx, "delivery: %zu notice%s failed for good (see the log above and the "
			"operators' report)", st->failed, st->failed == 1 ? "" : "s");
	once_prune(run, error || st->failed || once_rules_status(run) || run->unanswered_failed
			? 1 : 0);
}

/* mail: the email claims' connection, or NULL for the state connection's */
static void once_deliver_on(struct once_run *run, struct db_conn *mail)
{
	char err[512];

	run->deliver = deliver_new(run->ctx, run->state, mail, run->loop, err, sizeof(err));
	if (!run->deliver) {
		log_err(run->ctx, "delivery: %s", err);
		once_stop(run, 2);
		return;
	}
	if (deliver_pass(run->deliver, once_on_delivered, run) < 0) {
		log_err(run->ctx, "delivery: could not start: %s", db_error(run->state));
		once_stop(run, 1);
	}
}

static void once_on_mail_connect(struct db_conn *conn, int ok, void *arg)
{
	struct once_run *run = arg;

	if (!ok)
		log_warn(run->ctx, "database (%s: %s): a connection for the email claims could not "
			 "be made (%s): email and webhook notices are claimed on one",
			 run->ctx->cfg->path, run->ctx->cfg->state_conninfo ? "state.conninfo"
									    : "database.conninfo",
			 db_error(conn));
	once_deliver_on(run, ok ? conn : NULL);
}

/* Without an email section no email is claimed: no connection for it either. */
static void once_deliver(struct once_run *run)
{
	if (!run->ctx->cfg->email.enabled)
		once_deliver_on(run, NULL);
	else if (db_connect(run->mail, once_on_mail_connect, run) < 0)
		once_on_mail_connect(run->mail, 0, run);
}

static void once_on_unanswered(int ok, const char *error, const struct unanswered_stats *st,
			       void *arg)
{
	struct once_run *run = arg;

	if (!ok) {
		/* the evaluation is kept; the next one escalates what this one could not */
		log_err(run->ctx, "%s", error);
		run->unanswered_failed = 1;
	} else if (st->unanswered) {
		fprintf(stderr, "  unanswered: %lld stage%s escalated; notices: %lld email, %lld "
			"webhook\n", st->unanswered, st->unanswered == 1 ? "" : "s",
			st->email_notices, st->webhook_notices);
	}
	/* The alerts are in the outbox now: delivery reads them from there. */
	once_deliver(run);
}

static void once_on_recorded(int ok, const char *error, const struct record_changes *ch,
			     void *arg)
{
	struct once_run *run = arg;

	run->rec = NULL;
	if (!ok) {
		if (error)
			log_err(run->ctx, "%s", error);
		once_stop(run, 1);
		return;
	}
	report_evaluation(stderr, run->ctx->cfg, run->res);
	fprintf(stderr, "  changes: %lld new, %lld escalated, %lld updated, %lld resolved, "
		"%lld reminders; notices: %lld email, %lld webhook\n", ch->firing, ch->escalated,
		ch->updated, ch->resolved, ch->reminders, ch->email_notices, ch->webhook_notices);
	if (ch->reports)
		fprintf(stderr, "  %lld report%s to the operators (rules failing or recovering, "
			"addresses that cannot be used)\n", ch->reports, ch->reports == 1 ? "" : "s");
	/* Only a full evaluation escalates: a partial one does not know which alerts still fire. */
	if (run->req.child_ids) {
		once_deliver(run);
		return;
	}
	if (unanswered_run(run->ctx, run->state,
			   run->ctx->cfg->state_conninfo ? run->cases : NULL, run->res->as_of, 0,
			   ch->digest_key, once_on_unanswered, run) < 0) {
		log_err(run->ctx, "escalating unanswered alerts: could not start: %s",
			db_error(run->state));
		/* the evaluation is recorded: its notices go out all the same */
		run->unanswered_failed = 1;
		once_deliver(run);
	}
}

static void once_on_eval(struct eval_result *res, void *arg)
{
	struct once_run *run = arg;

	run->res = res;
	if (res->error)
		log_err(run->ctx, "evaluation failed: %s", res->error);
	record_finish(run->rec, res, 1, once_on_recorded, run);
}

/* The evaluation starts once the state is migrated and the emptiness checks are over: they
 * run on the counting connection, and must not run inside the count's transaction. */
static void once_start_eval(struct once_run *run)
{
	struct eval_sink sink;

	if (!run->migrated || !run->empty_checked)
		return;
	record_sink(run->rec, &sink);
	if (oneshot_eval(run->ctx, run->cases, run->count, run->ahead_up ? run->ahead : NULL,
			 &run->req, &sink, once_on_eval, run) < 0) {
		log_err(run->ctx, "could not start the evaluation: out of memory");
		/* nothing was sent on the state connection yet: nothing to roll back */
		record_cancel(run->rec);
		run->rec = NULL;
		once_stop(run, 1);
	}
}

static void once_on_migrated(int ok, const char *error, void *arg)
{
	struct once_run *run = arg;

	if (!ok) {
		log_err(run->ctx, "%s", error);
		once_stop(run, 1);
		return;
	}
	run->rec = record_new(run->ctx, run->state, &run->req, 0);
	if (!run->rec) {
		log_err(run->ctx, "could not start recording: out of memory");
		once_stop(run, 1);
		return;
	}
	run->migrated = 1;
	once_start_eval(run);
}

static void once_on_empty_checked(void *arg)
{
	struct once_run *run = arg;

	run->empty_checked = 1;
	once_start_eval(run);
}

static void once_on_ahead_connect(struct db_conn *conn, int ok, void *arg)
{
	struct once_run *run = arg;

	run->ahead_up = ok;
	if (!ok)
		log_warn(run->ctx, "database (%s: database.conninfo): a fourth connection, to run "
			 "rules ahead, could not be made (%s): the rules run on one",
			 run->ctx->cfg->path, db_error(conn));
	/* Said before the evaluation that reads the empty relations, on the counting
	 * connection, while the state is migrated on its own (contract.h). */
	if (contract_note_empty(run->ctx, run->count, NULL, once_on_empty_checked, run) < 0)
		run->empty_checked = 1;
	if (state_migrate(run->ctx, run->state, once_on_migrated, run) < 0) {
		log_err(run->ctx, "could not start the state migration: %s", db_error(run->state));
		once_stop(run, 1);
	}
}

static void once_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct once_run *run = arg;

	if (!ok) {
		log_err(run->ctx, "database (%s: %s): %s", run->ctx->cfg->path,
			conn == run->state && run->ctx->cfg->state_conninfo ? "state.conninfo"
									     : "database.conninfo",
			db_error(conn));
		once_stop(run, 1);
		return;
	}
	if (--run->connecting > 0)
		return;
	if (db_connect(run->ahead, once_on_ahead_connect, run) < 0)
		once_on_ahead_connect(run->ahead, 0, run);
}

static int once_open(struct once_run *run)
{
	struct dw_ctx *ctx = run->ctx;
	struct db_conn *conns[4];

	run->cases = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	run->state = db_conn_new(ctx->base, config_state_conninfo(ctx->cfg), ctx->log_level);
	run->count = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	run->ahead = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	run->mail = db_conn_new(ctx->base, config_state_conninfo(ctx->cfg), ctx->log_level);
	run->loop = curl_loop_new(ctx->base, ONCE_MAX_TRANSFERS);
	if (!run->cases || !run->state || !run->count || !run->ahead || !run->mail || !run->loop) {
		log_err(ctx, "out of memory");
		return -1;
	}
	conns[0] = run->cases;
	conns[1] = run->state;
	conns[2] = run->count;
	conns[3] = run->ahead;
	run->connecting = 3;
	db_set_query_timeout(run->mail, ctx->cfg->query_timeout_s + 10);
	for (int i = 0; i < 4; i++) {
		db_set_query_timeout(conns[i], ctx->cfg->query_timeout_s + 10);
		if (conns[i] == run->ahead)
			continue;  /* once the others are up (once_on_connect) */
		if (db_connect(conns[i], once_on_connect, run) < 0) {
			log_err(ctx, "database (%s: database.conninfo): %s", ctx->cfg->path,
				db_error(conns[i]));
			return -1;
		}
	}
	return 0;
}

int cmd_once(struct dw_ctx *ctx, const char *as_of)
{
	struct once_run run = { .ctx = ctx, .req = { .as_of = as_of }, .status = 1 };

	if (once_open(&run) == 0)
		event_base_dispatch(ctx->base);
	/* The loop goes first: cancelled transfers report into the deliverer, which must live. */
	curl_loop_free(run.loop);
	deliver_free(run.deliver);
	/* Closing runs the callbacks of what was in flight (an interrupted recording ends). */
	db_conn_free(run.mail);
	db_conn_free(run.ahead);
	db_conn_free(run.count);
	db_conn_free(run.cases);
	db_conn_free(run.state);
	record_cancel(run.rec);
	eval_result_free(run.res);
	return run.status;
}
