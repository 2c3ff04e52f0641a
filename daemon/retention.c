/* retention: keeps the state schema from growing for ever without touching the record of alerts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/retention.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

struct retention_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	char *sql;
	retention_done_cb cb;
	void *arg;
	int batches;
	int full;                 /* the batch in flight deleted RETENTION_BATCH of something */
	long long notices, evaluations;
	char error[512];
};

static void retention_end(struct retention_run *r)
{
	retention_done_cb cb = r->cb;
	void *arg = r->arg;
	long long n = r->notices, e = r->evaluations;
	char error[sizeof(r->error)];

	snprintf(error, sizeof(error), "%s", r->error);
	free(r->sql);
	free(r);
	cb(n, e, error[0] ? error : NULL, arg);
}

static void retention_batch(struct retention_run *r);

static void retention_fail(struct retention_run *r, PGresult *res)
{
	if (!r->error[0])
		snprintf(r->error, sizeof(r->error), "%s",
			 res ? PQresultErrorMessage(res) : db_error(r->conn));
}

static void retention_on_end(struct db_conn *conn, PGresult *res, void *arg)
{
	struct retention_run *r = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		retention_fail(r, res);
	if (r->error[0] || !r->full || ++r->batches >= RETENTION_MAX_BATCHES) {
		retention_end(r);
		return;
	}
	retention_batch(r);
}

/* The batch's answer decides how its transaction ends; a lock it would have waited for more
 * than a second is a failure of this run only: the rows go next time. */
static void retention_on_batch(struct db_conn *conn, PGresult *res, void *arg)
{
	struct retention_run *r = arg;
	int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	long long n = 0, e = 0, d = 0;

	if (ok) {
		n = atoll(PQgetvalue(res, 0, 0));
		e = atoll(PQgetvalue(res, 0, 2));
		d = atoll(PQgetvalue(res, 0, 3));
	} else {
		retention_fail(r, res);
	}
	r->notices += n;
	r->evaluations += e;
	/* prune.sql takes a hundredth as many days of daily counts as it takes rows */
	r->full = n >= RETENTION_BATCH || e >= RETENTION_BATCH || d >= RETENTION_BATCH / 100;
	if (db_query(conn, ok ? "COMMIT" : "ROLLBACK", 0, NULL, retention_on_end, r) < 0) {
		retention_fail(r, NULL);
		retention_end(r);
	}
}

static void retention_on_begun(struct db_conn *conn, PGresult *res, void *arg)
{
	struct retention_run *r = arg;
	char days[16], batch[16];
	const char *params[2] = { days, batch };

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		retention_fail(r, res);
		if (db_query(conn, "ROLLBACK", 0, NULL, retention_on_end, r) < 0)
			retention_end(r);
		return;
	}
	snprintf(days, sizeof(days), "%d", r->ctx->cfg->retention_days);
	snprintf(batch, sizeof(batch), "%d", RETENTION_BATCH);
	if (db_query(conn, r->sql, 2, params, retention_on_batch, r) < 0) {
		retention_fail(r, NULL);
		retention_end(r);
	}
}

/* BEGIN and a lock_timeout for this transaction only (recording and delivery must never wait
 * for pruning, and pruning never for them), in one script; then the batch, then its end. */
static void retention_batch(struct retention_run *r)
{
	if (db_script(r->conn, "BEGIN; SELECT set_config('lock_timeout', '1000', true)",
		      retention_on_begun, r) < 0) {
		retention_fail(r, NULL);
		retention_end(r);
	}
}

int retention_prune(struct dw_ctx *ctx, struct db_conn *conn, retention_done_cb cb, void *arg)
{
	struct retention_run *r = calloc(1, sizeof(*r));
	char *ident;

	if (!r)
		return -1;
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	r->sql = ident ? strbuf_subst(sql_prune, "@state@", ident) : NULL;
	free(ident);
	if (!r->sql) {
		free(r);
		return -1;
	}
	r->ctx = ctx;
	r->conn = conn;
	r->cb = cb;
	r->arg = arg;
	retention_batch(r);
	return 0;
}
