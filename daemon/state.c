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
	state_record_cb recorded;
	void *arg;
	int version;            /* current version while migrating */
	int raced;              /* a migration lost a race with another daemon once already */
	struct state_changes ch;
	char error[1024];       /* the first failure of a recording, or "" */
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

static json_t *state_alert_row(const struct alert *a, const struct dw_config *cfg)
{
	json_t *payload = alert_to_json(a, "firing");
	json_t *dest = routing_destinations(a, cfg);
	char *key = routing_notify_key(a);
	json_t *row = NULL;

	if (payload && dest && key)
		row = json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:O, s:O}", "fingerprint",
				a->fingerprint, "rule", a->rule->name, "child_id", a->child_id,
				"subject_id", a->subject_id ? json_string(a->subject_id) : json_null(),
				"stage", a->rule->stages[a->stage].name, "stage_rank", a->stage,
				"notify_key", key, "payload", payload, "destinations", dest);
	json_decref(payload);
	json_decref(dest);
	free(key);
	return row;
}

static char *state_alerts_json(const struct eval_result *res, const struct dw_config *cfg)
{
	json_t *arr = json_array();
	char *text;

	if (!arr)
		return NULL;
	for (size_t i = 0; i < res->n_alerts; i++) {
		json_t *row = state_alert_row(&res->alerts[i], cfg);

		if (!row || json_array_append_new(arr, row) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
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

static void state_record_fail(struct state_op *op, const char *what, PGresult *res,
			      struct db_conn *conn)
{
	if (op->error[0])
		return;
	snprintf(op->error, sizeof(op->error), "recording the evaluation in schema %s failed at %s: %s",
		 op->ctx->cfg->state_schema, what, res ? PQresultErrorMessage(res) : db_error(conn));
}

static void state_on_step(struct db_conn *conn, PGresult *res, void *arg)
{
	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR)
		state_record_fail(arg, "its transaction", res, conn);
}

static void state_on_recorded(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		state_record_fail(op, "the diff", res, conn);
		return;
	}
	op->ch.firing = atoll(PQgetvalue(res, 0, 0));
	op->ch.escalated = atoll(PQgetvalue(res, 0, 1));
	op->ch.updated = atoll(PQgetvalue(res, 0, 2));
	op->ch.resolved = atoll(PQgetvalue(res, 0, 3));
	op->ch.reminders = atoll(PQgetvalue(res, 0, 4));
	op->ch.email_notices = atoll(PQgetvalue(res, 0, 5));
	op->ch.webhook_notices = atoll(PQgetvalue(res, 0, 6));
}

/* COMMIT of a transaction that failed answers ROLLBACK without an error, so success is judged
 * by what the steps before it reported. */
static void state_on_commit(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	state_record_cb cb = op->recorded;
	void *cb_arg = op->arg;
	struct state_changes ch = op->ch;
	char error[1024];

	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		state_record_fail(op, "COMMIT", res, conn);
	snprintf(error, sizeof(error), "%s", op->error);
	state_op_free(op);
	if (error[0])
		memset(&ch, 0, sizeof(ch));
	cb(error[0] == 0, error[0] ? error : NULL, &ch, cb_arg);
}

/* The lock serialises recording between daemons sharing the state schema: each diff runs on a
 * snapshot taken after the previous one committed, so no change is announced twice. */
static int state_send_record(struct state_op *op, struct db_conn *conn, const char *sql,
			     const char *const *params)
{
	const char *lock_params[1] = { op->ctx->cfg->state_schema };

	if (db_query(conn, "BEGIN", 0, NULL, state_on_step, op) < 0)
		return -1;
	/* Queued behind BEGIN; from here on every step reports through the callbacks. */
	if (db_query(conn, "SELECT pg_advisory_xact_lock(hashtext('driftwatch-record:' || $1)::bigint)",
		     1, lock_params, state_on_step, op) < 0 ||
	    db_query(conn, sql, 10, params, state_on_recorded, op) < 0)
		state_record_fail(op, "sending", NULL, conn);
	if (db_query(conn, "COMMIT", 0, NULL, state_on_commit, op) < 0) {
		struct state_changes none = { 0 };

		/* Only when memory ran out. The steps queued above still point at op, so it is
		 * left to them rather than freed, and the caller hears of the failure now. */
		state_record_fail(op, "sending COMMIT", NULL, conn);
		op->recorded(0, op->error, &none, op->arg);
	}
	return 0;
}

int state_record(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_result *res,
		 const struct eval_request *req, state_record_cb cb, void *arg)
{
	struct state_op *op = state_op_new(ctx, conn, arg);
	char *alerts = NULL, *rules = NULL, *bad = NULL, *kids = NULL, *sql = NULL;
	char digest[64], children[32], scope[32], repeat[16];
	const char *params[10];
	struct strbuf sb;
	int rc = -1;

	if (!op)
		return -1;
	op->recorded = cb;
	alerts = state_alerts_json(res, ctx->cfg);
	rules = state_enabled_rules(ctx->cfg);
	bad = state_bad_rows_json(res);
	sql = strbuf_subst(sql_record, "@state@", op->ident);
	strbuf_init(&sb);
	if (req->child_ids) {
		strbuf_append(&sb, "{");
		for (size_t i = 0; i < req->n_child_ids; i++) {
			strbuf_append(&sb, i ? ",\"" : "\"");
			for (const char *p = req->child_ids[i]; *p; p++) {
				if (*p == '"' || *p == '\\')
					strbuf_append(&sb, "\\");
				strbuf_appendn(&sb, p, 1);
			}
			strbuf_append(&sb, "\"");
		}
		strbuf_append(&sb, "}");
		kids = strbuf_take(&sb);
	}
	strbuf_free(&sb);
	/* One digest per person per evaluation: the day and the moment identify the evaluation. */
	snprintf(digest, sizeof(digest), "%s-%lld", res->as_of, (long long)time(NULL));
	snprintf(children, sizeof(children), "%lld", res->children);
	snprintf(scope, sizeof(scope), req->child_ids ? "%zu children" : "all",
		 req->n_child_ids);
	params[0] = alerts;
	params[1] = res->as_of;
	params[2] = kids;
	params[3] = rules;
	params[4] = ctx->cfg->email.send_resolved ? "true" : "false";
	params[5] = digest;
	/* The daemon counts bad rows apart from its evaluations (service.c): NULL, not zero. */
	params[6] = res->counted ? children : NULL;
	params[7] = res->counted ? bad : NULL;
	params[8] = scope;
	snprintf(repeat, sizeof(repeat), "%d", ctx->cfg->repeat_after_days);
	params[9] = repeat;
	if (alerts && rules && bad && sql && (!req->child_ids || kids))
		rc = state_send_record(op, conn, sql, params);
	free(alerts);
	free(rules);
	free(bad);
	free(kids);
	free(sql);
	if (rc < 0)
		state_op_free(op);
	return rc;
}
