/* state: creates and migrates driftwatch's own schema, and records each evaluation into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/routing.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/state.h"
#include "driftwatch/strbuf.h"

/* Migration N (1-based) brings the schema from version N-1 to N. */
static const char *const migrations[] = { sql_state_v1 };

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STATE_SCHEMA_VERSION,
	       "one migration per schema version");

/* Any constant works; it only has to be the same for every driftwatchd. */
#define STATE_MIGRATE_LOCK "7428031"

struct state_op {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	char *ident;            /* escaped state schema */
	state_done_cb done;
	void *arg;
	int version;            /* current version while migrating */
	int raced;              /* a migration lost a race with another daemon once already */
};

static struct state_op *state_op_new(struct dw_ctx *ctx, struct db_conn *conn, void *arg)
{
	struct state_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ctx = ctx;
	op->conn = conn;
	op->arg = arg;
	op->ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (!op->ident) {
		free(op);
		return NULL;
	}
	return op;
}

static void state_op_free(struct state_op *op)
{
	free(op->ident);
	free(op);
}

/* ---- migration ---- */

static void state_migrate_end(struct state_op *op, const char *error)
{
	state_done_cb cb = op->done;
	void *arg = op->arg;

	state_op_free(op);
	cb(error == NULL, error, arg);
}

static void state_apply_next(struct state_op *op);
static int state_check_version(struct state_op *op);

/* Another daemon that started at the same moment applied this migration first (it held the
 * lock while this one read the old version): read the version again instead of failing. */
static int state_lost_race(struct state_op *op, PGresult *res)
{
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (op->raced || !code || (strcmp(code, "42P07") != 0 && strcmp(code, "42710") != 0 &&
				   strcmp(code, "42723") != 0 && strcmp(code, "23505") != 0))
		return 0;
	op->raced = 1;
	log_info(op->ctx, "state schema %s: another driftwatchd migrated it first; reading the "
		 "version again", op->ctx->cfg->state_schema);
	return state_check_version(op) == 0;
}

static void state_on_applied(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];

	if (state_lost_race(op, res))
		return;
	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR) {
		snprintf(msg, sizeof(msg), "state schema %s: migration to version %d failed: %s",
			 op->ctx->cfg->state_schema, op->version + 1,
			 res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	op->version++;
	log_notice(op->ctx, "state schema %s: now at version %d", op->ctx->cfg->state_schema,
		   op->version);
	state_apply_next(op);
}

static void state_apply_next(struct state_op *op)
{
	struct strbuf sb;
	char *body, *script;

	if (op->version >= STATE_SCHEMA_VERSION) {
		state_migrate_end(op, NULL);
		return;
	}
	body = strbuf_subst(migrations[op->version], "@state@", op->ident);
	strbuf_init(&sb);
	/* A script without BEGIN runs as one implicit transaction: all of it or none. The lock
	 * makes a second daemon wait, and the version check makes its attempt a no-op error. */
	strbuf_append(&sb, "SELECT pg_advisory_xact_lock(" STATE_MIGRATE_LOCK ");\n");
	strbuf_append(&sb, body ? body : "");
	script = body ? strbuf_take(&sb) : NULL;
	strbuf_free(&sb);
	free(body);
	if (!script || db_script(op->conn, script, state_on_applied, op) < 0) {
		free(script);
		state_migrate_end(op, "state schema: could not send a migration");
		return;
	}
	free(script);
}

static void state_on_version(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(msg, sizeof(msg), "state schema %s: could not read its version: %s",
			 op->ctx->cfg->state_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	op->version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
	if (op->version > STATE_SCHEMA_VERSION) {
		snprintf(msg, sizeof(msg), "state schema %s is at version %d, newer than this "
			 "driftwatchd knows (%d): upgrade driftwatchd", op->ctx->cfg->state_schema,
			 op->version, STATE_SCHEMA_VERSION);
		state_migrate_end(op, msg);
		return;
	}
	state_apply_next(op);
}

static void state_on_exists(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];
	char *sql;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(msg, sizeof(msg), "state schema %s: could not look for it: %s",
			 op->ctx->cfg->state_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	/* A new database has no version table: that is version 0. */
	if (PQgetisnull(res, 0, 0)) {
		op->version = 0;
		state_apply_next(op);
		return;
	}
	sql = strbuf_subst("SELECT max(version) FROM @state@.schema_version", "@state@",
			   op->ident);
	if (!sql || db_query(conn, sql, 0, NULL, state_on_version, op) < 0)
		state_migrate_end(op, "state schema: could not send the version query");
	free(sql);
}

static int state_check_version(struct state_op *op)
{
	char *name = strbuf_subst("@state@.schema_version", "@state@", op->ident);
	const char *params[1] = { name };
	int rc;

	rc = name ? db_query(op->conn, "SELECT to_regclass($1)::text", 1, params, state_on_exists,
			     op) : -1;
	free(name);
	return rc;
}

int state_migrate(struct dw_ctx *ctx, struct db_conn *conn, state_done_cb cb, void *arg)
{
	struct state_op *op = state_op_new(ctx, conn, arg);

	if (!op)
		return -1;
	op->done = cb;
	if (state_check_version(op) < 0) {
		state_op_free(op);
		return -1;
	}
	return 0;
}

/* ---- recording an evaluation ---- */

/* Alerts per statement. The evaluation's alerts are held compact (alert_compact); what a batch
 * costs on top is its jsonb text and libpq's copy of it, about 1 KB an alert, so 500 keeps that
 * near 1 MB while a full evaluation at a million children (14,000 alerts) takes 28 statements. */
#define STATE_BATCH 500

/* One recording: BEGIN, the lock, record.sql once per batch, COMMIT (ROLLBACK after a failure),
 * each sent from the callback of the one before, so exactly one query refers to rec at a time
 * and only one batch's text exists at once. */
struct state_rec {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	const struct eval_result *res;  /* the caller keeps it until cb has run */
	state_record_cb cb;
	void *arg;
	char *sql;                      /* record.sql for this state schema */
	char *kids;                     /* $3: the children evaluated, or NULL for everyone */
	char *rules;                    /* $4 */
	char *bad;                      /* $8 (sent as NULL when res did not count bad rows) */
	char digest[64];                /* $6 */
	char children[32];              /* $7 (likewise) */
	char scope[32];                 /* $9 */
	char repeat[16];                /* $10 */
	char total[24];                 /* $12 */
	size_t next;                    /* the first alert of the next batch; n_alerts: all sent */
	struct state_changes ch;        /* summed over the batches */
	char error[1024];               /* the first failure, or "" */
};

static void state_rec_free(struct state_rec *rec)
{
	free(rec->sql);
	free(rec->kids);
	free(rec->rules);
	free(rec->bad);
	free(rec);
}

/* One element of record.sql's $1, as JSON text. The alert is read through a copy whose trees,
 * parsed from a compacted alert's text, are dropped again at once. */
static char *state_alert_row(const struct alert *a, const struct dw_config *cfg)
{
	struct alert tmp = *a;
	json_t *payload = NULL, *dest = NULL, *row = NULL;
	char *key = NULL, *text = NULL;

	if (alert_load(&tmp) == 0) {
		payload = alert_to_json(&tmp, "firing");
		dest = routing_destinations(&tmp, cfg);
		key = routing_notify_key(&tmp);
	}
	if (payload && dest && key)
		row = json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:O, s:O}", "fingerprint",
				a->fingerprint, "rule", a->rule->name, "child_id", a->child_id,
				"subject_id", a->subject_id ? json_string(a->subject_id) : json_null(),
				"stage", a->rule->stages[a->stage].name, "stage_rank", a->stage,
				"notify_key", key, "payload", payload, "destinations", dest);
	if (row)
		text = json_dumps(row, JSON_COMPACT);
	json_decref(row);
	json_decref(payload);
	json_decref(dest);
	free(key);
	alert_unload(&tmp);
	return text;
}

/* record.sql's $1 for alerts [from, to). */
static char *state_batch_json(const struct eval_result *res, size_t from, size_t to,
			      const struct dw_config *cfg)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "[");
	for (size_t i = from; i < to; i++) {
		char *row = state_alert_row(&res->alerts[i], cfg);

		if (!row) {
			strbuf_free(&sb);
			return NULL;
		}
		if (i > from)
			strbuf_append(&sb, ",");
		strbuf_append(&sb, row);
		free(row);
	}
	strbuf_append(&sb, "]");
	return strbuf_take(&sb);
}

static char *state_enabled_rules(const struct dw_config *cfg)
{
	struct strbuf sb;
	int first = 1;

	strbuf_init(&sb);
	strbuf_append(&sb, "{");
	for (size_t i = 0; i < cfg->n_rules; i++) {
		if (!cfg->rules[i].enabled)
			continue;
		strbuf_printf(&sb, "%s%s", first ? "" : ",", cfg->rules[i].def->name);
		first = 0;
	}
	strbuf_append(&sb, "}");
	return strbuf_take(&sb);
}

static char *state_bad_rows_json(const struct eval_result *res)
{
	json_t *o = json_object();
	char *text;

	if (!o)
		return NULL;
	for (size_t i = 0; i < res->n_bad; i++)
		json_object_set_new(o, res->bad[i].kind, json_integer(res->bad[i].count));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* Keeps the first failure: it is the cause, and what follows it only says the transaction was
 * aborted. */
static void state_rec_fail(struct state_rec *rec, const char *what, const char *why)
{
	size_t n;

	if (rec->error[0])
		return;
	snprintf(rec->error, sizeof(rec->error), "recording the evaluation in schema %s failed at "
		 "%s: %s", rec->ctx->cfg->state_schema, what, why);
	n = strlen(rec->error);
	while (n > 0 && rec->error[n - 1] == '\n')
		rec->error[--n] = '\0';
}

static void state_rec_fail_pg(struct state_rec *rec, const char *what, PGresult *res)
{
	state_rec_fail(rec, what, res ? PQresultErrorMessage(res) : db_error(rec->conn));
}

static void state_rec_end(struct state_rec *rec)
{
	state_record_cb cb = rec->cb;
	void *arg = rec->arg;
	struct state_changes ch = rec->ch;
	char error[sizeof(rec->error)];

	snprintf(error, sizeof(error), "%s", rec->error);
	state_rec_free(rec);
	if (error[0])
		memset(&ch, 0, sizeof(ch));
	cb(error[0] == 0, error[0] ? error : NULL, &ch, arg);
}

/* Sends the next step; when even that cannot be sent (the connection is gone, or memory ran
 * out), the recording ends here: no other query refers to rec. */
static void state_rec_send(struct state_rec *rec, const char *sql, int nparams,
			   const char *const *params, db_result_cb cb, const char *what)
{
	if (db_query(rec->conn, sql, nparams, params, cb, rec) == 0)
		return;
	state_rec_fail(rec, what, db_error(rec->conn));
	state_rec_end(rec);
}

static void state_on_end(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_rec *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		state_rec_fail_pg(rec, "the end of its transaction", res);
	state_rec_end(rec);
}

/* After a failure: nothing of this evaluation stays (the error is already in rec). */
static void state_rec_abort(struct state_rec *rec)
{
	state_rec_send(rec, "ROLLBACK", 0, NULL, state_on_end, "sending ROLLBACK");
}

static void state_on_batch(struct db_conn *conn, PGresult *res, void *arg);

static void state_send_batch(struct state_rec *rec)
{
	const struct eval_result *res = rec->res;
	size_t end = res->n_alerts - rec->next > STATE_BATCH ? rec->next + STATE_BATCH
							     : res->n_alerts;
	int last = end == res->n_alerts;
	char *batch = state_batch_json(res, rec->next, end, rec->ctx->cfg);
	char notices[32];
	const char *params[13];

	if (!batch) {
		state_rec_fail(rec, "building its alerts", "out of memory");
		state_rec_abort(rec);
		return;
	}
	snprintf(notices, sizeof(notices), "%lld", rec->ch.email_notices + rec->ch.webhook_notices);
	params[0] = batch;
	params[1] = res->as_of;
	params[2] = rec->kids;
	params[3] = rec->rules;
	params[4] = rec->ctx->cfg->email.send_resolved ? "true" : "false";
	params[5] = rec->digest;
	/* Bad rows and children counted elsewhere (the daemon's own connection) or not at all:
	 * NULL, so that nobody reads a zero as "none". */
	params[6] = res->counted ? rec->children : NULL;
	params[7] = res->counted ? rec->bad : NULL;
	params[8] = rec->scope;
	params[9] = rec->repeat;
	params[10] = last ? "true" : "false";
	params[11] = rec->total;
	params[12] = notices;
	rec->next = end;
	/* libpq copies the parameters, so the batch's text goes as soon as it is sent. */
	state_rec_send(rec, rec->sql, 13, params, state_on_batch, "sending a batch of alerts");
	free(batch);
}

static void state_on_batch(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_rec *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		state_rec_fail_pg(rec, "the diff", res);
		state_rec_abort(rec);
		return;
	}
	rec->ch.firing += atoll(PQgetvalue(res, 0, 0));
	rec->ch.escalated += atoll(PQgetvalue(res, 0, 1));
	rec->ch.updated += atoll(PQgetvalue(res, 0, 2));
	rec->ch.resolved += atoll(PQgetvalue(res, 0, 3));
	rec->ch.reminders += atoll(PQgetvalue(res, 0, 4));
	rec->ch.email_notices += atoll(PQgetvalue(res, 0, 5));
	rec->ch.webhook_notices += atoll(PQgetvalue(res, 0, 6));
	if (rec->next < rec->res->n_alerts) {
		state_send_batch(rec);
		return;
	}
	state_rec_send(rec, "COMMIT", 0, NULL, state_on_end, "sending COMMIT");
}

static void state_on_locked(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_rec *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		state_rec_fail_pg(rec, "its lock", res);
		state_rec_abort(rec);
		return;
	}
	state_send_batch(rec);
}

/* The lock serialises recording between daemons sharing the state schema: each diff runs on a
 * snapshot taken after the previous one committed, so no change is announced twice. */
static void state_on_begun(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_rec *rec = arg;
	const char *params[1] = { rec->ctx->cfg->state_schema };

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		state_rec_fail_pg(rec, "its transaction", res);
		state_rec_abort(rec);
		return;
	}
	state_rec_send(rec, "SELECT pg_advisory_xact_lock(hashtext('driftwatch-record:' || "
		       "$1)::bigint)", 1, params, state_on_locked, "sending its lock");
}

static struct state_rec *state_rec_new(struct dw_ctx *ctx, struct db_conn *conn,
				       const struct eval_result *res,
				       const struct eval_request *req)
{
	struct state_rec *rec = calloc(1, sizeof(*rec));
	char *ident;

	if (!rec)
		return NULL;
	rec->ctx = ctx;
	rec->conn = conn;
	rec->res = res;
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	rec->sql = ident ? strbuf_subst(sql_record, "@state@", ident) : NULL;
	free(ident);
	rec->kids = req->child_ids ? strbuf_text_array(req->child_ids, req->n_child_ids) : NULL;
	rec->rules = state_enabled_rules(ctx->cfg);
	rec->bad = state_bad_rows_json(res);
	if (!rec->sql || (req->child_ids && !rec->kids) || !rec->rules || !rec->bad) {
		state_rec_free(rec);
		return NULL;
	}
	/* One digest per person per evaluation: the day and the moment identify the evaluation. */
	snprintf(rec->digest, sizeof(rec->digest), "%s-%lld", res->as_of, (long long)time(NULL));
	snprintf(rec->children, sizeof(rec->children), "%lld", res->children);
	snprintf(rec->scope, sizeof(rec->scope), req->child_ids ? "%zu children" : "all",
		 req->n_child_ids);
	snprintf(rec->repeat, sizeof(rec->repeat), "%d", ctx->cfg->repeat_after_days);
	snprintf(rec->total, sizeof(rec->total), "%zu", res->n_alerts);
	return rec;
}

int state_record(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_result *res,
		 const struct eval_request *req, state_record_cb cb, void *arg)
{
	struct state_rec *rec = state_rec_new(ctx, conn, res, req);

	if (!rec)
		return -1;
	rec->cb = cb;
	rec->arg = arg;
	if (db_query(conn, "BEGIN", 0, NULL, state_on_begun, rec) < 0) {
		state_rec_free(rec);
		return -1;
	}
	return 0;
}
